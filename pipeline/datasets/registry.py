"""Dataset adapters by name — the one list of dataset names. Each adapter module has
`list_clips(root, subjects, frame_stride, actions)` -> (clips, skips), `camera_table(root | None)` -> list of camera
dicts, `NAME`, `JOINT_SET`. Modules import on first use (their readers pull in scipy, h5py, cdflib, av), so
`pipeline --help` and argument checks stay fast."""

from __future__ import annotations

import importlib
from types import ModuleType

from schemas.errors import InputError

_MODULES = {"h36m": "pipeline.datasets.h36m", "3dhp": "pipeline.datasets.mpi3dhp", "muco": "pipeline.datasets.muco"}
DATASET_NAMES: tuple[str, ...] = tuple(_MODULES)


def get_adapter(name: str) -> ModuleType:
    """The adapter module for a dataset name; InputError listing the valid names otherwise."""
    if name not in _MODULES:
        raise InputError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}")
    return importlib.import_module(_MODULES[name])
