"""Validated writes: a clip's GT rows as one checked unit, and a streaming writer for its backbone outputs.

Every array is checked against its spec (schemas.arrays) and the clip's row count before anything is written,
so a bad call changes nothing on disk; the rows are written through tensorstore (storage/rowwrite.py) and the
clip's status flips to DONE only after all of them have landed.
"""

from __future__ import annotations

import numpy as np

from schemas.arrays import BACKBONE_ROW_ARRAYS, DONE, OPTIONAL_ROW_ARRAYS, ROW_ARRAYS, ArraySpec
from schemas.errors import StoreError
from storage.dataset import ClipRow
from storage.encodings import group_encoding
from storage.faults import write_fault
from storage.rowwrite import RowWriter
from storage.status import ClipStatus


class ValidatedWrites(ClipStatus):
    """Writes of one clip's rows, validated before anything lands."""

    def write_clip(self, clip_index: int, rows: dict[str, np.ndarray]) -> None:
        """Write all ROW_ARRAYS (and the optional ones the dataset was created with) of one clip as one unit, then
        mark its rows DONE. Optional arrays the dataset lacks are dropped (a store made before they existed).

        Every array must have exactly the clip's row count and the spec's shape; all are validated
        before anything is written, so a bad call changes nothing on disk. `clip` is filled in here.
        `camera` holds clip-local camera indices (into the clip's camera list) and is offset here.
        """
        clip = self.clip(clip_index)
        rows = dict(rows)
        rows["clip"] = np.full(clip.length, clip_index, dtype=np.int32)
        specs = {**ROW_ARRAYS, **{k: v for k, v in OPTIONAL_ROW_ARRAYS.items() if k in self.group["rows"]}}
        rows = {k: v for k, v in rows.items() if k in specs or k not in OPTIONAL_ROW_ARRAYS}
        missing = sorted(set(specs) - set(rows))
        if missing:
            raise StoreError(f"{self.where('rows')}: write of clip {clip_index} lacks arrays {missing}")
        extra = sorted(set(rows) - set(specs))
        if extra:
            raise StoreError(f"{self.where('rows')}: unknown row arrays {extra}; known: {sorted(specs)}")
        self._validate(specs, rows, clip, "rows")
        offset = int(self.group["clips/camera_offset"][clip_index])
        rows["camera"] = np.asarray(rows["camera"], dtype=np.int64) + offset
        data = {f"{self.group.path}/rows/{name}": np.asarray(arr, specs[name].dtype) for name, arr in rows.items()}
        RowWriter(self.store.path).write(clip.start, data)
        if "n_valid" in self.group["clips"]:  # the clip's own chunk: as safe for concurrent writers as status
            with write_fault(self.where("clips/n_valid")):
                self.group["clips/n_valid"][clip_index] = int(np.asarray(rows["valid"], dtype=bool).sum())
        self.set_status(clip_index, DONE)

    def _validate(self, specs: dict[str, ArraySpec], arrays: dict[str, np.ndarray], clip: ClipRow,
                  where: str) -> None:
        counts = {k: int(np.shape(v)[0]) for k, v in arrays.items()}
        if len(set(counts.values())) > 1 or any(n != clip.length for n in counts.values()):
            raise StoreError(f"{self.where(where)}: clip {clip.index} has {clip.length} rows but the arrays "
                             f"disagree: {counts}; nothing was written")
        for name, arr in arrays.items():
            try:
                specs[name].check(np.asarray(arr), self.num_joints, clip.length, self.where(where))
            except ValueError as e:
                raise StoreError(f"{e}; nothing was written") from None

    def backbone_writer(self, name: str, clip_index: int) -> ClipWriter:
        """A streaming writer for one clip's backbone outputs (buffers whole shards)."""
        return ClipWriter(self, name, clip_index)


class ClipWriter:
    """Streams one clip's backbone rows (kp2d, kp2d_score, levels, flip/levels) into shard-sized writes.

    `append(batch)` takes dicts of (B, ...) arrays in row order; `close()` checks the row count,
    writes the remainder and only then flips the backbone status of the clip to DONE.
    """

    def __init__(self, ds: ValidatedWrites, backbone: str, clip_index: int) -> None:
        self.ds, self.clip = ds, ds.clip(clip_index)
        self.g = ds._backbone(backbone)
        self.name = backbone
        self.levels = list(self.g.attrs["levels"])
        self.flip = bool(self.g.attrs.get("flip", False))
        self.names = list(BACKBONE_ROW_ARRAYS) + self.levels + ([f"flip/{lv}" for lv in self.levels] if self.flip
                                                                 else [])
        self.buf: dict[str, list[np.ndarray]] = {k: [] for k in self.names}
        self.buffered = 0
        self.written = 0
        self.shard = ds.shard_rows
        self.encoding = group_encoding(dict(self.g.attrs))
        self.io = RowWriter(ds.store.path)  # tensorstore handles of the arrays, kept for the clip

    def append(self, batch: dict[str, np.ndarray]) -> None:
        missing = sorted(set(self.names) - set(batch))
        if missing:
            raise StoreError(f"{self.ds.where('backbones/' + self.name)}: batch lacks {missing}")
        counts = {k: len(batch[k]) for k in self.names}
        if len(set(counts.values())) != 1:
            raise StoreError(f"{self.ds.where('backbones/' + self.name)}: batch arrays disagree in rows: {counts}")
        n = next(iter(counts.values()))
        if self.written + self.buffered + n > self.clip.length:
            raise StoreError(f"{self.ds.where('backbones/' + self.name)}: clip {self.clip.index} has "
                             f"{self.clip.length} rows, got more")
        for k in self.names:
            self.buf[k].append(np.asarray(batch[k]))
        self.buffered += n
        while self.buffered >= self.shard:
            self._flush(self.shard)

    def _flush(self, n: int) -> None:
        out: dict[str, np.ndarray] = {}
        for k in self.names:
            data = np.concatenate(self.buf[k]) if len(self.buf[k]) > 1 else self.buf[k][0]
            parts = self.encoding.encode(data[:n]) if k.rsplit("/", 1)[-1] in self.levels else {"": data[:n]}
            out.update({f"{self.g.path}/{k}{suffix}": part for suffix, part in parts.items()})
            self.buf[k] = [data[n:]] if len(data) > n else []
        self.io.write(self.clip.start + self.written, out)  # every array at once (storage/rowwrite.py)
        self.buffered -= n
        self.written += n

    def close(self) -> None:
        """Write what is buffered; mark the clip DONE for this backbone only if every row arrived."""
        if self.buffered:
            self._flush(self.buffered)
        if self.written != self.clip.length:
            raise StoreError(f"{self.ds.where('backbones/' + self.name)}: clip {self.clip.index} got "
                             f"{self.written} of {self.clip.length} rows; not marked done")
        self.ds.set_status(self.clip.index, DONE, self.name)
