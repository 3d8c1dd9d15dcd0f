"""The dataset adapters by name: THE one list of dataset names (`DATASET_NAMES`); each a `DatasetAdapter`."""

from __future__ import annotations

from pipeline.datasets import h36m, mpi3dhp, muco
from pipeline.datasets.base import DatasetAdapter
from schemas.errors import InputError

ADAPTERS: dict[str, DatasetAdapter] = {a.name: a for a in (h36m.ADAPTER, mpi3dhp.ADAPTER, muco.ADAPTER)}
DATASET_NAMES: tuple[str, ...] = tuple(ADAPTERS)


def get_adapter(name: str) -> DatasetAdapter:
    """The adapter of a dataset name; InputError listing the valid names otherwise."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise InputError(f"unknown dataset {name!r}; valid names: {', '.join(ADAPTERS)}") from None
