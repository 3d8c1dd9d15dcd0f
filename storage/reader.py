"""Random-access reader: row indices -> dict of numpy arrays; index tables for splits, strides, windows.

Safe in DataLoader workers: the Zarr group is opened lazily in each process (zarr v3 runs an event-loop
thread, so a group opened before a fork is never reused after it) and the reader pickles without it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import zarr

from schemas.arrays import DONE
from schemas.errors import StoreError
from schemas.splits import SPLITS
from storage.encodings import QPARAMS_SUFFIX, Encoding, group_encoding
from storage.fastread import FastArray, dequantize
from storage.store import ClipRow, DatasetGroup, Store

ROW_FIELDS = ("clip", "frame", "person", "valid", "bbox", "affine", "kp2d_gt", "pose3d_cam")


class Reader:
    """Reads one dataset of a store.

    keypoints: the 2D source returned as `kp2d` — "gt", a backbone name, or an imported source name.
    backbone: the backbone whose feature maps `read(..., maps=True)` returns (default: the only one).
    joint_features: the reader serves the backbone's cached joint features (StoreError if it has none) and
    indexes only clips whose joint features are DONE too.
    Only clips whose rows (and, when a backbone is used, whose backbone outputs) are DONE are indexed.
    """

    def __init__(self, path: str | Path, dataset: str | None = None, backbone: str | None = None,
                 keypoints: str = "gt", joint_features: bool = False) -> None:
        self.path = Path(path)
        ds = Store.open(self.path).datasets()
        if not ds:
            raise StoreError(f"{self.path}: the store has no dataset yet")
        if dataset is None:
            if len(ds) > 1:
                raise StoreError(f"{self.path} holds several datasets ({', '.join(ds)}); pass dataset=")
            dataset = ds[0]
        if dataset not in ds:
            raise StoreError(f"{self.path}: no dataset {dataset!r}; it has: {', '.join(ds)}")
        self.dataset = dataset
        self._pid: int | None = None
        self._ds: DatasetGroup | None = None
        self._fast: dict[str, FastArray | None] = {}
        g = self.ds
        bbs, imps = g.backbones(), g.imports()
        if backbone is None and keypoints in bbs:
            backbone = keypoints
        if backbone is None and len(bbs) == 1:
            backbone = bbs[0]
        if backbone is not None and backbone not in bbs:
            raise StoreError(f"{self.path}/{dataset}: no backbone maps {backbone!r}; "
                             f"it has: {', '.join(bbs) or 'none'}")
        if keypoints != "gt" and keypoints not in bbs and keypoints not in imps:
            raise StoreError(f"{self.path}/{dataset}: no 2D source {keypoints!r}; available: "
                             f"{', '.join(['gt', *bbs, *imps])}")
        self.backbone = backbone
        self.keypoints = keypoints
        self.joint_features = bool(joint_features)
        if self.joint_features:
            self.joints_group(flip=False)

    # ---------- lazy per-process handle ----------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_ds"], state["_pid"], state["_fast"] = None, None, {}
        return state

    @property
    def ds(self) -> DatasetGroup:
        if self._ds is None or self._pid != os.getpid():
            self._ds = Store.open(self.path).dataset(self.dataset)
            self._pid = os.getpid()
        return self._ds

    @property
    def group(self) -> zarr.Group:
        return self.ds.group

    # ---------- metadata ----------
    @cached_property
    def attrs(self) -> dict:
        return self.ds.attrs

    @cached_property
    def clip_table(self) -> list[ClipRow]:
        return self.ds.clips()

    @cached_property
    def num_rows(self) -> int:
        return self.ds.n_rows

    @cached_property
    def row_clip(self) -> np.ndarray:
        """(N,) int32 clip index of every row (-1 for padding)."""
        return self._take(self.group["rows/clip"], np.arange(self.num_rows))

    @cached_property
    def valid(self) -> np.ndarray:
        """(N,) bool valid flag of every row: one fast read (N / shard_rows chunk files), shared by every index
        table (train, test, ...) of this reader."""
        return self._take(self.group["rows/valid"], np.arange(self.num_rows))

    @cached_property
    def clip_valid_counts(self) -> np.ndarray | None:
        """(C,) int64 valid rows of each written clip (-1: unknown) from clips/n_valid, so index tables read
        `rows/valid` only for clips with invalid rows (O(clips), not O(rows / shard_rows) files); None for a store
        written before that array existed (then `rows/valid` is scanned)."""
        c = self.group["clips"]
        if "n_valid" not in c:
            return None
        return self._take(c["n_valid"], np.arange(c["n_valid"].shape[0]))

    @cached_property
    def levels(self) -> dict[str, tuple[int, int, int]]:
        if self.backbone is None:
            return {}
        return {k: tuple(v) for k, v in self.group["backbones"][self.backbone].attrs["levels"].items()}

    @cached_property
    def encoding(self) -> Encoding | None:
        """How the selected backbone's maps are stored (storage/encodings.py); reads decode it."""
        if self.backbone is None:
            return None
        return group_encoding(dict(self.group["backbones"][self.backbone].attrs))

    @cached_property
    def cameras(self) -> np.ndarray:
        return self.ds.cameras()

    def ready_clips(self) -> list[ClipRow]:
        """Clips whose rows (and backbone outputs, if a backbone is selected; and joint features, if the reader
        serves them) are written."""
        st = self.ds.status(self.backbone) if self.backbone else None
        if self.joint_features:
            st = np.where(self.joints_group(False)["status"][:] == DONE, st, 0)
        return [c for c in self.clip_table if c.status == DONE and (st is None or st[c.index] == DONE)]

    def joints_group(self, flip: bool = False) -> zarr.Group:
        """backbones/<backbone>/joints (or its flip/ subgroup); StoreError naming what exists if missing."""
        bbs = self.ds.backbones()
        with_jf = [b for b in bbs if "joints" in self.group["backbones"][b]]
        hint = (f"backbones with joint features: {', '.join(with_jf) or 'none'} (of: {', '.join(bbs) or 'none'}); "
                f"run `pipeline derive {self.path} --backbone NAME --joint-features` to cache them")
        if self.backbone is None or "joints" not in self.group["backbones"][self.backbone]:
            raise StoreError(f"{self.path}/{self.dataset}: no cached joint features for backbone "
                             f"{self.backbone!r}; {hint}")
        j = self.group["backbones"][self.backbone]["joints"]
        if flip and "flip" not in j:
            raise StoreError(f"{self.path}/{self.dataset}/backbones/{self.backbone}/joints: no joint features of "
                             f"flipped crops (the backbone has no flipped maps); re-extract with --flip, then "
                             f"`pipeline derive {self.path} --backbone {self.backbone} --joint-features`")
        return j["flip"] if flip else j

    # ---------- index tables (computed from clips, never copies of data) ----------
    def rows(self, subjects: list[str] | tuple[str, ...] | None = None, split: str | None = None,
             stride: int = 1, actions: list[str] | None = None, valid_only: bool = True) -> np.ndarray:
        """(n,) int64 row indices of ready clips, filtered by subjects or a named split, every `stride`-th frame."""
        if stride < 1:
            raise StoreError(f"frame stride must be >= 1, got {stride}")
        if split is not None:
            if self.dataset not in SPLITS or split not in SPLITS[self.dataset]:
                raise StoreError(f"no split {split!r} for dataset {self.dataset!r}")
            subjects = SPLITS[self.dataset][split]
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

    # ---------- reads ----------
    def _check_rows(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        bad = rows[(rows < 0) | (rows >= self.num_rows)]
        if len(bad):
            raise StoreError(f"{self.path}/{self.dataset}: row {int(bad[0])} out of range (0..{self.num_rows - 1})")
        return rows

    def _take(self, arr: zarr.Array, rows: np.ndarray) -> np.ndarray:
        if arr.path not in self._fast:
            self._fast[arr.path] = FastArray.open(self.path, arr.path)
        fast = self._fast[arr.path]
        if fast is not None:
            return fast.read(rows)
        uniq, inv = np.unique(rows, return_inverse=True)
        try:
            return arr.oindex[uniq][inv]
        except Exception as e:  # noqa: BLE001 - codec errors come in many types
            raise StoreError(f"{self.path}/{arr.path}: cannot read rows {uniq[:5].tolist()}... ({type(e).__name__}: "
                             f"{e}); the store may be corrupt: run `pipeline check {self.path}`") from None

    def read(self, rows, fields: tuple[str, ...] = ROW_FIELDS, maps: bool = False, flip: bool = False,
             joint_features: bool = False, levels: Sequence[str] | None = None) -> dict:
        """Batched read of arbitrary rows (any order, repeats allowed).

        Returns per-row arrays: clip, frame, person, valid, bbox (n,4) px, affine (n,2,3), kp2d_gt (n,J,2) px,
        pose3d_cam (n,J,3) mm, camera (n,23) camera vectors, kp2d (n,J,2) px of the selected 2D source
        (+ kp2d_score for a backbone source), and with maps=True each level (n,C,H,W) float16
        (flip=True: the maps of the flipped crop, from backbones/<name>/flip; `levels`: only those, default all,
        StoreError for a level the group lacks); with joint_features=True
        `joint_features` (n, J, D) float16, the maps sampled at the joints (flip=True: of the flipped crop, joints
        already in the flipped order).
        """
        rows = self._check_rows(rows)
        g = self.group
        out: dict[str, np.ndarray] = {"row": rows}
        for f in fields:
            out[f] = self._take(g["rows"][f], rows)
        cam_idx = self._take(g["rows/camera"], rows)
        out["camera"] = self.cameras[np.clip(cam_idx, 0, None)]
        if self.keypoints == "gt":
            out["kp2d"] = out["kp2d_gt"] if "kp2d_gt" in out else self._take(g["rows/kp2d_gt"], rows)
        elif self.keypoints in self.ds.backbones():
            bb = g["backbones"][self.keypoints]
            out["kp2d"] = self._take(bb["kp2d"], rows)
            out["kp2d_score"] = self._take(bb["kp2d_score"], rows)
        else:
            out["kp2d"] = self._take(g["imports"][self.keypoints]["kp2d"], rows)
        if maps:
            if self.backbone is None:
                raise StoreError(f"{self.path}/{self.dataset}: no backbone maps in this store; "
                                 f"run `pipeline extract` with --backbone first")
            bb = g["backbones"][self.backbone]
            if flip:
                if "flip" not in bb:
                    raise StoreError(f"{self.path}/{self.dataset}/backbones/{self.backbone}: no flipped maps; "
                                     f"re-extract with --flip")
                bb = bb["flip"]
            want = list(self.levels) if levels is None else list(levels)
            missing = [lv for lv in want if lv not in self.levels]
            if missing:
                raise StoreError(f"{self.path}/{self.dataset}/backbones/{self.backbone}: no map level(s) "
                                 f"{', '.join(missing)} (levels: {', '.join(self.levels)})")
            for lvl in want:
                out[lvl] = self._map(bb, lvl, rows)
        if joint_features:
            out["joint_features"] = self._take(self.joints_group(flip)["feat"], rows)
        return out

    def _map(self, group: zarr.Group, level: str, rows: np.ndarray) -> np.ndarray:
        """(n, C, H, W) float16 maps of one level, decoded from the group's encoding."""
        stored = self._take(group[level], rows)
        if self.encoding is None or self.encoding.kind != "int8":
            return stored
        return dequantize(stored, self._take(group[level + QPARAMS_SUFFIX], rows))

    def __len__(self) -> int:
        return self.num_rows
