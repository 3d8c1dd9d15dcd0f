"""Dataset adapters by name — the one list of dataset names (`DATASET_NAMES`); each a `DatasetAdapter` instance.
Adapter modules import on first use (their readers pull in scipy, h5py, cdflib, av), so `pipeline --help` and
argument checks stay fast."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from schemas.errors import InputError

if TYPE_CHECKING:
    from pipeline.datasets.base import DatasetAdapter

_MODULES = {"h36m": "pipeline.datasets.h36m", "3dhp": "pipeline.datasets.mpi3dhp", "muco": "pipeline.datasets.muco"}
DATASET_NAMES: tuple[str, ...] = tuple(_MODULES)


def get_adapter(name: str) -> DatasetAdapter:
    """The adapter of a dataset name; InputError listing the valid names otherwise."""
    if name not in _MODULES:
        raise InputError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}")
    return importlib.import_module(_MODULES[name]).ADAPTER
