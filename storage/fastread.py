"""Fast random row reads of the store's own Zarr v3 arrays, straight from chunk and shard files.

Why: zarr-python 3.1.6 reads one inner chunk of a sharded array at ~25-100 rows/s and a plain chunk at ~500/s
(asyncio overhead per chunk, measured in bench/store_bench.py); a training batch needs 4 x 256 of them.
This module reads exactly the layouts `storage.store` writes, per the Zarr v3 spec:
- sharded arrays with inner chunk (1, *rest) (feature maps): the shard index (n x (offset, nbytes) uint64 LE
  + crc32c, at the end) is read once per shard and batch, then each row's bytes are `pread` (no codec: directly
  into the output buffer) and decoded with numcodecs (zstd / blosc);
- unsharded arrays chunked (S, *rest) along rows (small per-row arrays): each needed chunk file is read and
  decoded once per batch.
File names follow the array's chunk-key encoding (storage/layout.py): flat `c.i.0.0.0` (new stores) or nested
`c/i/0/0/0` (stores written before).
Anything else returns None from `FastArray.open`, and the caller falls back to zarr. Output equals zarr's
(tests/test_fastread.py), missing chunks read as the fill value, bad bytes raise StoreError naming the file.
Encoded maps (storage/encodings.py): bitround-k and lossless arrays are plain fp16 here; int8 codes are decoded
by `dequantize` on the same threads (tests/test_encodings.py checks fast == zarr for every encoding).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import google_crc32c
import numcodecs
import numpy as np
import zarr

from schemas.errors import StoreError
from storage.encodings import dequantize_int8
from storage.layout import chunk_key

_EMPTY = np.uint64(2**64 - 1)
_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _pool() -> ThreadPoolExecutor:
    """A per-process reader thread pool (threads do not survive fork: a forked worker makes its own)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)),
                                                 thread_name_prefix="ctxpose-read"))
    return _POOL[1]


def _identity(buf: bytes) -> bytes:
    return buf


def _crc_ok(buf: np.ndarray) -> bool:
    """A chunk's bytes (uint8, data then its 4-byte little-endian crc32c, zarr's Crc32cCodec) pass the checksum."""
    return len(buf) >= 4 and google_crc32c.value(buf[:-4]) == int.from_bytes(buf[-4:].tobytes(), "little")


def _checksummed(codecs: list[dict]) -> bool:
    return bool(codecs) and codecs[-1]["name"] == "crc32c"


def _decoder(codecs: list[dict]):
    """numcodecs decoder for [bytes(little), optional zstd|blosc] (a trailing crc32c is verified by the caller,
    see `_checksummed`); None if unsupported."""
    codecs = codecs[:-1] if _checksummed(codecs) else codecs
    if not codecs or codecs[0]["name"] != "bytes" or codecs[0].get("configuration", {}).get("endian", "little") \
            != "little":
        return None
    rest = codecs[1:]
    if not rest:
        return _identity
    if len(rest) == 1 and rest[0]["name"] == "zstd":
        return numcodecs.Zstd().decode
    if len(rest) == 1 and rest[0]["name"] == "blosc":
        return numcodecs.Blosc().decode
    return None


class FastArray:
    """Row reader of one array. Use `FastArray.open(store, array_path)`; None when the layout is unsupported."""

    def __init__(self, root: Path, path: str, meta: dict) -> None:
        self.root, self.path = root, path
        self.shape = tuple(meta["shape"])
        self.dtype = np.dtype(meta["data_type"]).newbyteorder("<")
        self.fill = meta["fill_value"]
        self.outer = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        codecs = meta["codecs"]
        self.sharded = codecs[0]["name"] == "sharding_indexed"
        if self.sharded:
            cfg = codecs[0]["configuration"]
            self.inner = tuple(cfg["chunk_shape"])
            self.decode, self.crc = _decoder(cfg["codecs"]), _checksummed(cfg["codecs"])
            self.index_ok = [c["name"] for c in cfg["index_codecs"]] == ["bytes", "crc32c"] \
                and cfg.get("index_location", "end") == "end" and self.inner[0] == 1 \
                and self.inner[1:] == self.shape[1:]
        else:
            self.inner = self.outer
            self.decode, self.crc = _decoder(codecs), _checksummed(codecs)
            self.index_ok = True
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self.key = chunk_key(meta["chunk_key_encoding"])  # flat "c.i.0.0.0" (new stores) or nested "c/i/0/0/0"
        self.tail = (0,) * len(self.shape[1:])

    @classmethod
    def open(cls, root: str | Path, path: str) -> FastArray | None:
        root = Path(root)
        try:
            meta = json.loads((root / path / "zarr.json").read_text())
        except (OSError, ValueError):
            return None
        try:
            fa = cls(root, path, meta)
        except (KeyError, TypeError, IndexError, ValueError):
            return None
        if fa.decode is None or not fa.index_ok or fa.outer[1:] != fa.shape[1:]:
            return None
        return fa

    def _file(self, i: int) -> Path:
        return self.root / self.path / self.key((i, *self.tail))

    def read(self, rows: np.ndarray) -> np.ndarray:
        """(n, *row_shape) for `rows` in any order (repeats allowed), each written straight to its slot."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        if not len(rows):
            return out
        unit = self.outer[0]
        order = np.argsort(rows, kind="stable")
        shard = rows[order] // unit
        bounds = np.flatnonzero(np.diff(shard)) + 1
        groups = np.split(order, bounds)
        fn = self._read_shard if self.sharded else self._read_chunk
        list(_pool().map(lambda g: fn(int(rows[g[0]] // unit), rows[g] % unit, out, g), groups))
        return out

    def _fill(self, out: np.ndarray) -> None:
        out[...] = self.fill if self.fill is not None else 0

    def _read_chunk(self, i: int, local: np.ndarray, out: np.ndarray, slots: np.ndarray) -> None:
        f = self._file(i)
        try:
            data = f.read_bytes()
        except FileNotFoundError:
            out[slots] = self.fill if self.fill is not None else 0
            return
        try:
            raw = np.frombuffer(self.decode(self._payload(data, f, i * self.outer[0])),
                                dtype=self.dtype).reshape(self.outer)
        except StoreError:
            raise
        except Exception as e:  # noqa: BLE001 - codec errors come in many types
            raise StoreError(f"{f}: cannot decode chunk ({type(e).__name__}: {e}); "
                             f"{self._repair(i * self.outer[0])}") from None
        out[slots] = raw[local]

    def _payload(self, data: bytes, f: Path, row: int, j: int | None = None) -> bytes:
        """A chunk's encoded bytes without its crc32c, after checking it (arrays without a checksum: as is)."""
        if not self.crc:
            return data
        if not _crc_ok(np.frombuffer(data, np.uint8)):
            what = "chunk" if j is None else f"chunk {j}"
            raise StoreError(f"{f}: {what} (row {row}) fails its crc32c checksum (corrupt bytes); {self._repair(row)}")
        return data[:-4]

    def _repair(self, row: int) -> str:
        """What to do about a corrupt chunk holding `row`: its clip and the repair command."""
        return f"{owner(self.root, self.path, row)}; run `pipeline check {self.root} --repair`, then `pipeline " \
               "extract` re-extracts it"

    def _shard_index(self, fd: int, f: Path, row0: int) -> tuple[np.ndarray, int, int]:
        """(index (n, 2) uint64 (offset, nbytes) per inner chunk, file size, index size) of an open shard file;
        StoreError if the index is cut short or fails its crc32c."""
        n = self.outer[0]
        size = os.fstat(fd).st_size
        isz = 16 * n + 4
        if size < isz:
            raise StoreError(f"{f}: shard shorter than its index ({size} bytes); {self._repair(row0)}")
        ibytes = os.pread(fd, isz, size - isz)
        if google_crc32c.value(ibytes[:-4]) != int.from_bytes(ibytes[-4:], "little"):
            raise StoreError(f"{f}: shard index checksum mismatch (corrupt shard); {self._repair(row0)}")
        return np.frombuffer(ibytes[:-4], dtype="<u8").reshape(n, 2), size, isz

    def verify(self, start: int, stop: int) -> None:
        """Integrity check of rows [start, stop) without decoding them: every shard's index passes its crc32c, every
        row has a chunk (written) lying inside the shard's data, and, for arrays whose chunks carry a crc32c, every
        chunk's bytes pass it (checksum speed: ~10 GB/s, no decompression; arrays without: 16 bytes per row read).
        StoreError naming the file, chunk, row and clip for the first problem; missing files are the caller's check
        (storage/audit.py). Unsharded arrays: decodes the rows (they are small; the read verifies checksums)."""
        if not self.sharded:
            self.read(np.arange(start, stop))
            return
        unit = self.outer[0]
        for i in range(start // unit, -(-stop // unit)):
            f = self._file(i)
            try:
                fd = os.open(f, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                index, size, isz = self._shard_index(fd, f, i * unit)
                lo, hi = max(start - i * unit, 0), min(stop - i * unit, unit)
                off, nb = index[lo:hi, 0], index[lo:hi, 1]
                empty = np.flatnonzero(off == _EMPTY)
                if len(empty):
                    raise StoreError(f"{f}: chunk {lo + int(empty[0])} (row {i * unit + lo + int(empty[0])}) was "
                                     f"never written; {self._repair(i * unit + lo + int(empty[0]))}")
                past = np.flatnonzero(off + nb > size - isz)
                if len(past):
                    raise StoreError(f"{f}: chunk {lo + int(past[0])} points past the shard data; "
                                     f"{self._repair(i * unit + lo + int(past[0]))}")
                if self.crc and len(off):
                    base = int(off.min())
                    data = np.frombuffer(os.pread(fd, int((off + nb).max()) - base, base), np.uint8)
                    for k in range(len(off)):
                        if not _crc_ok(data[int(off[k]) - base:int(off[k] + nb[k]) - base]):
                            row = i * unit + lo + k
                            raise StoreError(f"{f}: chunk {lo + k} (row {row}) fails its crc32c checksum (corrupt "
                                             f"bytes); {self._repair(row)}")
            finally:
                os.close(fd)

    def _read_shard(self, i: int, local: np.ndarray, out: np.ndarray, slots: np.ndarray) -> None:
        f = self._file(i)
        try:
            fd = os.open(f, os.O_RDONLY)
        except FileNotFoundError:
            out[slots] = self.fill if self.fill is not None else 0
            return
        try:
            index, size, isz = self._shard_index(fd, f, i * self.outer[0])
            for k, j in zip(slots, local, strict=True):
                row = i * self.outer[0] + int(j)
                off, nb = index[j]
                if off == _EMPTY:
                    self._fill(out[k])
                    continue
                if off + nb > size - isz:
                    raise StoreError(f"{f}: chunk {j} points past the shard data; {self._repair(row)}")
                if self.decode is _identity and nb == self.row_bytes + 4 * self.crc:
                    tail = bytearray(4 * self.crc)  # straight into the batch, the checksum beside it
                    got = os.preadv(fd, [memoryview(out[k]).cast("B"), tail], int(off))
                    if got != nb:
                        raise StoreError(f"{f}: short read of chunk {j}; {self._repair(row)}")
                    if self.crc and google_crc32c.value(out[k].view(np.uint8).reshape(-1)) != \
                            int.from_bytes(tail, "little"):
                        raise StoreError(f"{f}: chunk {j} (row {row}) fails its crc32c checksum (corrupt bytes); "
                                         f"{self._repair(row)}")
                    continue
                buf = self._payload(os.pread(fd, int(nb), int(off)), f, row, int(j))
                try:
                    out[k] = np.frombuffer(self.decode(buf), dtype=self.dtype).reshape(self.row_shape)
                except Exception as e:  # noqa: BLE001
                    raise StoreError(f"{f}: cannot decode chunk {j} ({type(e).__name__}: {e}); "
                                     f"{self._repair(row)}") from None
        finally:
            os.close(fd)


def owner(root: Path, path: str, row: int) -> str:
    """'row N of clip I (S1/Walking 1/54138969)' for a row of the dataset holding array `path` (read from the clip
    table with zarr, which never calls back here); 'row N (no clip: padding)' between clips."""
    try:
        g = zarr.open_group(str(Path(root) / path.split("/")[0] / "clips"), mode="r")
        start, length, table = g["start"][:], g["length"][:], g.attrs["table"]
    except Exception:  # noqa: BLE001 - a broken clip table: say what is known
        return f"row {row}"
    hit = np.flatnonzero((start <= row) & (row < start + length))
    if not len(hit):
        return f"row {row} (no clip: padding)"
    i = int(hit[0])
    return f"row {row} of clip {i} ({table['subject'][i]}/{table['action'][i]} {table['subaction'][i]}".rstrip() + \
        f"/{table['camera'][i]})"


def dequantize(codes: np.ndarray, qparams: np.ndarray) -> np.ndarray:
    """int8 maps: codes (n, C, H, W) uint8 + qparams (n, C, 2) float32 -> (n, C, H, W) float16, in row blocks
    on the reader threads (numpy releases the GIL in its loops)."""
    out = np.empty(codes.shape, dtype=np.float16)
    n = len(codes)
    step = max(1, -(-n // (2 * _pool()._max_workers)))
    list(_pool().map(lambda a: dequantize_int8(codes[a:a + step], qparams[a:a + step], out=out[a:a + step]),
                     range(0, n, step)))
    return out
