"""Index tables of a Reader: row lists for splits, subjects, actions and frame strides, and temporal windows.

Computed from the clip table (and the per-row valid flags where a clip has invalid rows), never copies of data.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from schemas.arrays import DONE
from schemas.errors import StoreError
from schemas.splits import split_subjects
from storage.reader_base import ReaderBase
from storage.store import ClipRow


class IndexTables(ReaderBase):
    """Which rows a Reader serves: ready clips, filtered row lists, windows of consecutive rows."""

    @cached_property
    def row_clip(self) -> np.ndarray:
        """(N,) int32 clip index of every row (-1 for padding)."""
        return self._whole(self.group["rows/clip"])

    @cached_property
    def valid(self) -> np.ndarray:
        """(N,) bool valid flag of every row, shared by every index table (train, test, ...) of this reader."""
        return self._whole(self.group["rows/valid"])

    @cached_property
    def clip_valid_counts(self) -> np.ndarray | None:
        """(C,) int64 valid rows of each written clip (-1: unknown) from clips/n_valid, so index tables read
        `rows/valid` only for clips with invalid rows (O(clips), not O(rows / shard_rows) files); None for a store
        written before that array existed (then `rows/valid` is scanned)."""
        c = self.group["clips"]
        if "n_valid" not in c:
            return None
        return self._io.whole(c["n_valid"].path)

    def ready_clips(self) -> list[ClipRow]:
        """Clips whose rows (and backbone outputs, if a backbone is selected; and joint features, if the reader
        serves them) are written."""
        st = self.ds.status(self.backbone) if self.backbone else None
        if self.joint_features:
            st = np.where(self.joints_group(False)["status"][:] == DONE, st, 0)
        return [c for c in self.clip_table if c.status == DONE and (st is None or st[c.index] == DONE)]

    def rows(self, subjects: list[str] | tuple[str, ...] | None = None, split: str | None = None,
             stride: int = 1, actions: list[str] | None = None, valid_only: bool = True) -> np.ndarray:
        """(n,) int64 row indices of ready clips, filtered by subjects or a named split, every `stride`-th frame."""
        if stride < 1:
            raise StoreError(f"frame stride must be >= 1, got {stride}")
        if split is not None:  # the dataset's standard protocol
            try:
                subjects = split_subjects(self.dataset, split)
            except KeyError as e:
                raise StoreError(str(e).strip("'\"")) from None
        counts = self.clip_valid_counts if valid_only else None
        out = []
        for c in self.ready_clips():
            if subjects is not None and c.subject not in subjects:
                continue
            if actions is not None and c.action not in actions:
                continue
            r = np.arange(c.start, c.stop, stride, dtype=np.int64)
            if counts is not None and counts[c.index] != c.length:  # some rows invalid (or count unknown)
                r = r[self._take(self.group["rows/valid"], r)]
            out.append(r)
        idx = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
        if valid_only and counts is None and len(idx):
            idx = idx[self.valid[idx]]
        return idx

    def windows(self, rows: np.ndarray, frames: int) -> np.ndarray:
        """(n, T) int64: the T consecutive rows centred on each row, edge-padded at its clip's ends."""
        rows = self._check_rows(rows)
        clips = self.row_clip[rows]
        starts = np.array([c.start for c in self.clip_table], dtype=np.int64)
        stops = np.array([c.stop for c in self.clip_table], dtype=np.int64)
        offsets = np.arange(frames, dtype=np.int64) - frames // 2
        win = rows[:, None] + offsets[None, :]
        return np.clip(win, starts[clips][:, None], stops[clips][:, None] - 1)

    def _check_rows(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        bad = rows[(rows < 0) | (rows >= self.num_rows)]
        if len(bad):
            raise StoreError(f"{self.path}/{self.dataset}: row {int(bad[0])} out of range (0..{self.num_rows - 1})")
        return rows
