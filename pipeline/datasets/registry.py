"""Dataset adapters by name: each module has `list_clips(root, subjects, frame_stride, actions)` -> (clips, skips),
`camera_table(root | None)` -> list of camera dicts, `NAME`, `JOINT_SET`."""

from __future__ import annotations

from types import ModuleType

from pipeline.datasets import h36m, mpi3dhp, muco
from schemas.errors import InputError

ADAPTERS: dict[str, ModuleType] = {m.NAME: m for m in (h36m, mpi3dhp, muco)}


def get_adapter(name: str) -> ModuleType:
    """The adapter module for a dataset name; InputError listing the valid names otherwise."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise InputError(f"unknown dataset {name!r}; valid names: {', '.join(ADAPTERS)}") from None
