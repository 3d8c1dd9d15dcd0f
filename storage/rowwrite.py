"""Row writes of the extraction (a clip's GT rows, its backbone rows) through tensorstore's `zarr3` driver.

The same shard bytes as zarr-python's write of the same arrays (tests/test_rowwrite.py compares the files), at
~0.4x its CPU time: tensorstore encodes (blosc, crc32c, the shard index) on its own threads and issues every
array's write at once (docs/benchmarks.md "Node budget"). Metadata, statuses and the small per-clip arrays are
still written by zarr-python (storage/status.py, storage/groups.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorstore as ts

from storage.faults import tensorstore_write_fault
from storage.rowread import open_array


class RowWriter:
    """Read-write handles of some row arrays of one store, each opened on first use (tensorstore reads the
    array's zarr.json once per handle)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._open: dict[str, ts.TensorStore] = {}

    def write(self, start: int, data: Mapping[str, np.ndarray]) -> None:
        """Write data[path] (n, *row_shape), cast to the array's dtype, into rows [start, start + n) of each array
        `root/path`, all arrays at once; returns when every write has landed (or failed). A failed write (disk
        full, an immutable file) raises the one-line StoreError of storage/faults.py naming the file and cause."""
        futures = {}
        for path, a in data.items():
            if path not in self._open:
                self._open[path] = open_array(self.root, path, write=True)
            arr = self._open[path]  # cast as zarr's assignment did (tensorstore itself casts only 'safe'ly)
            futures[path] = arr[start:start + len(a)].write(np.ascontiguousarray(a, dtype=arr.dtype.numpy_dtype))
        errors = []
        for path, f in futures.items():  # wait for all: nothing of this call is still writing when it returns
            try:
                f.result()
            except ValueError as e:
                errors.append(tensorstore_write_fault(str(self.root / path), e))
        if errors:
            raise errors[0]
