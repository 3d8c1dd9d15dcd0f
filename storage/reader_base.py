"""The Reader's source choice and metadata: which dataset, backbone and 2D source it serves, and their attributes.

Safe in DataLoader workers: the Zarr group and the tensorstore handles are opened lazily in each process (zarr v3
and tensorstore run their own threads, so nothing opened before a fork is reused after it) and the reader pickles
without them.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import numpy as np
import zarr

from schemas.errors import StoreError
from storage.encodings import Encoding, group_encoding
from storage.rowread import RowArrays
from storage.store import ClipRow, DatasetGroup, Store


class ReaderBase:
    """One dataset of a store and the sources a Reader serves.

    keypoints: the 2D source returned as `kp2d` — "gt", a backbone name, or an imported source name.
    backbone: the backbone whose feature maps `read(..., maps=True)` returns (default: the only one).
    joint_features: the reader serves the backbone's cached joint features (StoreError if it has none).
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
        self._io = RowArrays(self.path)
        self._small: dict[str, np.ndarray] = {}
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

    # ---------- lazy per-process handles ----------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_ds"], state["_pid"], state["_small"] = None, None, {}
        return state

    @property
    def ds(self) -> DatasetGroup:
        if self._ds is None or self._pid != os.getpid():
            self._ds = Store.open(self.path).dataset(self.dataset)
            self._pid = os.getpid()
            self._small = {}
        return self._ds

    @property
    def group(self) -> zarr.Group:
        return self.ds.group

    def _take(self, arr: zarr.Array, rows: np.ndarray) -> np.ndarray:
        """(n, ...) rows of one array of the store (any order, repeats allowed)."""
        return self._io.take(arr.path, rows)

    def _whole(self, arr: zarr.Array) -> np.ndarray:
        """A small per-row array held whole in memory (read once per process): a batch then costs a fancy index,
        not one chunk decode per row group it touches (~0.4 KB per row for all of them)."""
        self.ds  # noqa: B018 - resets the cache in a new process
        if arr.path not in self._small:
            self._small[arr.path] = self._io.whole(arr.path)
        return self._small[arr.path]

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
