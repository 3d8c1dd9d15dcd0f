"""Clip status of a dataset group: per clip PENDING / DONE / FAILED, of the rows or of a backbone group."""

from __future__ import annotations

import numpy as np

from schemas.arrays import DONE, FAILED, PENDING
from storage.dataset import DatasetBase, read_all
from storage.faults import write_fault


class ClipStatus(DatasetBase):
    """Status reads and flips; a clip's status flips only after its data is written (resume unit)."""

    def status(self, backbone: str | None = None) -> np.ndarray:
        """(C,) int8 status per clip (PENDING/DONE/FAILED) of the rows or of a backbone group."""
        arr = self.group["clips/status"] if backbone is None else self._backbone(backbone)["status"]
        return read_all(self.store.path, arr)

    def clip_status(self, clip_index: int, backbone: str | None = None) -> int:
        """The status of one clip: one chunk file read (chunk = 1 clip), not the whole (C,) array, so a per-clip
        task costs O(1) files, not O(clips) (~840 files for full H36M)."""
        arr = self.group["clips/status"] if backbone is None else self._backbone(backbone)["status"]
        return int(arr[clip_index])

    def pending(self, backbone: str | None = None) -> list[int]:
        """Clip indices not yet DONE (rows, or rows + this backbone's outputs)."""
        st = self.status()
        if backbone is not None:
            st = np.where(self.status(backbone) == DONE, st, PENDING)
        return [int(i) for i in np.flatnonzero(st != DONE)]

    def set_status(self, clip_index: int, value: int, backbone: str | None = None) -> None:
        arr = self.group["clips/status"] if backbone is None else self._backbone(backbone)["status"]
        with write_fault(f"{self.store.path}/{arr.path}"):
            arr[clip_index] = value

    def mark_failed(self, clip_index: int, backbone: str | None = None) -> None:
        self.set_status(clip_index, FAILED, backbone)
