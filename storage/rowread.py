"""Batched random row reads of the store's Zarr v3 arrays through tensorstore (its `zarr3` driver).

Why tensorstore: zarr-python 3.1.6 reads one inner chunk of a sharded array at ~25-100 rows/s (asyncio overhead
per chunk); tensorstore reads the same shards (index, then each row's byte range, decoded on its own threads) at
the speed of the hand-written reader it replaced, 0.9-1.3x its CPU time per sample (bench/readers_bench.py,
docs/benchmarks.md "Node budget"). Every layout the store writes is read: sharded maps (chunk = 1 row), unsharded
per-row arrays (chunk = shard_rows rows), flat `c.i.0` or nested `c/i/0` chunk keys, every codec of
storage/codecs.py. Missing chunks read as the fill value; unreadable bytes raise StoreError naming the array.

Handles are per process (`RowArrays` reopens in a new process id and pickles empty). tensorstore runs its own
threads and aborts a forked child that uses it after its parent did, so such a child gets a StoreError instead:
start workers with forkserver or spawn (lifters.loader.worker_context, Dask's default) as zarr already required.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorstore as ts

from schemas.errors import StoreError
from storage.owner import file_row, repair_hint

_CONTEXT: tuple[int, ts.Context] | None = None


def _context() -> ts.Context:
    """One tensorstore context per process (no chunk cache: every batch reads its rows from the files);
    StoreError in a child forked from a process that used tensorstore (it would abort there)."""
    global _CONTEXT
    if _CONTEXT is not None and _CONTEXT[0] != os.getpid():
        raise StoreError("the store is read in a process forked from one that already read it, which tensorstore "
                         "cannot do (it aborts); start worker processes with 'forkserver' or 'spawn' (e.g. "
                         "DataLoader(multiprocessing_context='forkserver'), as lifters.loader.make_loader does)")
    if _CONTEXT is None:
        _CONTEXT = (os.getpid(), ts.Context({"cache_pool": {"total_bytes_limit": 0}}))
    return _CONTEXT[1]


def open_array(root: str | Path, path: str, write: bool = False) -> ts.TensorStore:
    """The array `root/path` opened read-only (or read-write: storage/rowwrite.py); StoreError naming it if it
    cannot be opened."""
    where = Path(root) / path
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(where)}}
    if write:  # a row equal to the fill value (all-zero maps) still gets its chunk: `pipeline check` expects each
        spec["store_data_equal_to_fill_value"] = True
    try:
        return ts.open(spec, read=True, write=write, context=_context()).result()
    except ValueError as e:
        raise StoreError(f"{where}: cannot open the array ({e}); run `pipeline check {root}`") from None


def _result(fut, where: Path) -> np.ndarray:
    """The array a read future yields; StoreError naming the chunk/shard file and tensorstore's innermost reason."""
    try:
        return np.asarray(fut.result())
    except ValueError as e:
        msg = str(e)
        files = re.findall(r'local file "([^"]+)"', msg)
        reason = msg.rsplit(": ", 1)[-1]
        if "Digest mismatch" in reason:  # zarr's crc32c codec at the end of the chunk
            reason = f"crc32c checksum mismatch: corrupt bytes ({reason})"
        hint = "the store may be corrupt: run `pipeline check`"
        root = _store_root(where)
        if files and root is not None:
            path = str(where.relative_to(root))
            row = file_row(root, path, files[-1])
            if row is not None:
                hint = f"corrupt chunk: {repair_hint(root, path, row)}"
        raise StoreError(f"{files[-1] if files else where}: cannot read rows of {where.name} ({reason}); "
                         f"{hint}") from None


def _store_root(where: Path) -> Path | None:
    """The store directory above array `where` (the first parent whose zarr.json names this schema), or None."""
    for p in where.parents:
        try:
            if "ctxpose" in json.loads((p / "zarr.json").read_text()).get("attributes", {}).get("schema", ""):
                return p
        except (OSError, ValueError):
            continue
    return None


class RowArrays:
    """Row reads of any array of one store, each opened once per process.

    `read({path: rows})` issues every array's read at once (the four map levels decode concurrently) and
    returns {path: (n, *row_shape)}; rows in any order, repeats allowed: each array is read at its sorted
    distinct rows (file order) and the result put back in the order asked."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._pid: int | None = None
        self._open: dict[str, ts.TensorStore] = {}

    def __getstate__(self) -> dict:
        return {"root": self.root, "_pid": None, "_open": {}}

    def array(self, path: str) -> ts.TensorStore:
        if self._pid != os.getpid():
            self._pid, self._open = os.getpid(), {}
        if path not in self._open:
            self._open[path] = open_array(self.root, path)
        return self._open[path]

    def read(self, wanted: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        pending = {}
        for path, rows in wanted.items():
            uniq, inv = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
            pending[path] = (self.array(path)[uniq].read() if len(uniq) else None, inv, uniq)
        out = {}
        for path, (fut, inv, uniq) in pending.items():
            if fut is None:
                a = self.array(path)
                out[path] = np.empty((0, *a.shape[1:]), dtype=a.dtype.numpy_dtype)
                continue
            got = _result(fut, self.root / path)
            out[path] = got if len(uniq) == len(inv) and np.all(np.diff(inv) > 0) else got[inv]
        return out

    def take(self, path: str, rows: np.ndarray) -> np.ndarray:
        """(n, *row_shape) rows of one array."""
        return self.read({path: rows})[path]

    def whole(self, path: str) -> np.ndarray:
        """The whole array (small per-row and per-clip arrays)."""
        return _result(self.array(path).read(), self.root / path)


def read_all(root: str | Path, path: str) -> np.ndarray:
    """The whole array `root/path` (per-clip status arrays: one tiny chunk file per clip, read concurrently)."""
    return _result(open_array(root, path).read(), Path(root) / path)
