"""How bytes are laid out: the Zarr v3 store (create/open/allocate/write/resume), codecs and the reader."""

from storage.reader import Reader
from storage.store import DatasetGroup, Store

__all__ = ["DatasetGroup", "Reader", "Store"]
