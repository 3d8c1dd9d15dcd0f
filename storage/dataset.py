"""One dataset group of a store: its metadata, clip table reads and sub-group lookups (the base the
allocation, status, write and group-creation parts of `storage.store.DatasetGroup` build on)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr

from schemas.errors import StoreError
from storage.rowread import read_all as _read_whole

if TYPE_CHECKING:
    from storage.store import Store

CLIP_STR_COLUMNS = ("subject", "action", "subaction", "camera", "source")
KEY_COLUMNS = ("subject", "action", "subaction", "camera")


@dataclass(frozen=True)
class ClipRow:
    """One clip of the clip table."""

    index: int
    subject: str
    action: str
    subaction: str
    camera: str
    source: str
    start: int
    length: int
    status: int
    fps: float | None = None  # the source's frame rate (frames/s); None: unknown or not recorded (older stores)

    @property
    def stop(self) -> int:
        return self.start + self.length


def read_all(root: Path, arr: zarr.Array) -> np.ndarray:
    """arr[:] through tensorstore: per-clip arrays (status) have one tiny chunk file per clip, which zarr reads at a
    few hundred per second (~840 clips for full H36M); tensorstore reads them concurrently."""
    return _read_whole(root, arr.path)


def _rate(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


class DatasetBase:
    """A dataset group's metadata and clip table; `storage.store.DatasetGroup` adds the operations."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        self.group: zarr.Group = store.group[name]

    @property
    def attrs(self) -> dict:
        return dict(self.group.attrs)

    @property
    def num_joints(self) -> int:
        return int(self.group.attrs["num_joints"])

    @property
    def shard_rows(self) -> int:
        return int(self.group.attrs["shard_rows"])

    @property
    def n_rows(self) -> int:
        return int(self.group["rows/clip"].shape[0])

    @property
    def n_clips(self) -> int:
        return int(self.group["clips/start"].shape[0])

    def where(self, array: str = "") -> str:
        return f"{self.store.path}/{self.name}" + (f"/{array}" if array else "")

    def clips(self) -> list[ClipRow]:
        c = self.group["clips"]
        table = c.attrs["table"]
        start, length, status = c["start"][:], c["length"][:], read_all(self.store.path, c["status"])
        fps = c["fps"][:] if "fps" in c else np.full(len(start), np.nan)
        return [ClipRow(i, *(table[k][i] for k in CLIP_STR_COLUMNS), int(start[i]), int(length[i]), int(status[i]),
                        _rate(fps[i])) for i in range(len(start))]

    def clip(self, index: int) -> ClipRow:
        n = self.n_clips
        if not 0 <= index < n:
            raise StoreError(f"{self.where('clips')}: clip {index} out of range (0..{n - 1})")
        c = self.group["clips"]
        table = c.attrs["table"]
        return ClipRow(index, *(table[k][index] for k in CLIP_STR_COLUMNS), int(c["start"][index]),
                       int(c["length"][index]), int(c["status"][index]),
                       _rate(c["fps"][index]) if "fps" in c else None)

    def backbones(self) -> list[str]:
        return sorted(k for k, _ in self.group["backbones"].groups())

    def imports(self) -> list[str]:
        return sorted(k for k, _ in self.group["imports"].groups())

    def cameras(self) -> np.ndarray:
        """(K, 23) float64 camera vectors; rows/camera indexes into it."""
        return self.group["cameras/params"][:]

    def _backbone(self, name: str) -> zarr.Group:
        if name not in self.backbones():
            raise StoreError(f"{self.where('backbones')}: no backbone {name!r}; the store has: "
                             f"{', '.join(self.backbones()) or 'none'}")
        return self.group["backbones"][name]
