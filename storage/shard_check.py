"""Cheap integrity check of a sharded array's rows from its shard indices alone (`pipeline check` without --deep).

A Zarr v3 shard (sharding_indexed, index at the end, codecs bytes + crc32c) ends with n x (offset, nbytes) uint64
little-endian + a crc32c of them; an inner chunk never written is (2^64-1, 2^64-1). Reading 16 bytes per row finds
a row never written, an index that fails its checksum or an entry pointing past the shard's data, without decoding
a byte of the maps (decoding them all is `pipeline check --deep`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import google_crc32c
import numpy as np

from schemas.errors import StoreError
from storage.layout import chunk_key
from storage.owner import repair_hint

_EMPTY = np.uint64(2**64 - 1)


class ShardIndex:
    """The shard files of one sharded array with inner chunk (1, *row_shape). `ShardIndex.open` is None for any
    other layout (unsharded arrays: the checker decodes them, they are small)."""

    def __init__(self, root: Path, path: str, meta: dict) -> None:
        self.root, self.path = root, path
        self.dir = root / path
        inner = meta["codecs"][0]["configuration"]["codecs"]
        self.crc = bool(inner) and inner[-1]["name"] == "crc32c"  # each inner chunk ends with its crc32c
        self.rows_per_shard = int(meta["chunk_grid"]["configuration"]["chunk_shape"][0])
        self.tail = (0,) * (len(meta["shape"]) - 1)
        self.key = chunk_key(meta["chunk_key_encoding"])

    @classmethod
    def open(cls, root: str | Path, path: str) -> ShardIndex | None:
        try:
            meta = json.loads((Path(root) / path / "zarr.json").read_text())
            cfg = meta["codecs"][0]
            if cfg["name"] != "sharding_indexed":
                return None
            c = cfg["configuration"]
            if [x["name"] for x in c["index_codecs"]] != ["bytes", "crc32c"] or c.get("index_location", "end") \
                    != "end" or c["chunk_shape"][0] != 1 or list(c["chunk_shape"][1:]) != list(meta["shape"][1:]):
                return None
            return cls(Path(root), path, meta)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None

    def file(self, i: int) -> Path:
        return self.dir / self.key((i, *self.tail))

    def index(self, f: Path) -> tuple[np.ndarray, int, int] | None:
        """(index (n, 2) uint64 (offset, nbytes), file size, index size) of shard file `f`, None if it is missing;
        StoreError if the index is cut short or fails its crc32c."""
        n = self.rows_per_shard
        try:
            fd = os.open(f, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            size = os.fstat(fd).st_size
            isz = 16 * n + 4
            if size < isz:
                raise StoreError(f"{f}: shard shorter than its index ({size} bytes); run `pipeline check`")
            ibytes = os.pread(fd, isz, size - isz)
        finally:
            os.close(fd)
        if google_crc32c.value(ibytes[:-4]) != int.from_bytes(ibytes[-4:], "little"):
            raise StoreError(f"{f}: shard index checksum mismatch (corrupt shard); run `pipeline check`")
        return np.frombuffer(ibytes[:-4], dtype="<u8").reshape(n, 2), size, isz

    def verify(self, start: int, stop: int) -> None:
        """Rows [start, stop): every shard's index passes its crc32c, every row has a chunk lying inside the
        shard's data and, for arrays whose chunks carry a crc32c, every chunk's bytes pass it (checksum speed, no
        decompression; arrays without: 16 bytes per row read). StoreError naming the file, chunk, row, its clip
        and the repair command for the first problem; missing files are the caller's check (storage/audit.py)."""
        unit = self.rows_per_shard
        for i in range(start // unit, -(-stop // unit)):
            f = self.file(i)
            got = self.index(f)
            if got is None:
                continue
            index, size, isz = got
            lo, hi = max(start - i * unit, 0), min(stop - i * unit, unit)
            off, nb = index[lo:hi, 0], index[lo:hi, 1]
            empty = np.flatnonzero(off == _EMPTY)
            if len(empty):
                row = i * unit + lo + int(empty[0])
                raise StoreError(f"{f}: chunk {lo + int(empty[0])} (row {row}) was never written; "
                                 f"{repair_hint(self.root, self.path, row)}")
            past = np.flatnonzero(off + nb > size - isz)
            if len(past):
                raise StoreError(f"{f}: chunk {lo + int(past[0])} points past the shard data; "
                                 f"{repair_hint(self.root, self.path, i * unit + lo + int(past[0]))}")
            if self.crc and len(off):
                self._verify_chunks(f, off, nb, i * unit + lo)

    def _verify_chunks(self, f: Path, off: np.ndarray, nb: np.ndarray, row0: int) -> None:
        """Each chunk (bytes, then its 4-byte little-endian crc32c: zarr's Crc32cCodec) passes its checksum."""
        base = int(off.min())
        with open(f, "rb") as fh:
            fh.seek(base)
            data = np.frombuffer(fh.read(int((off + nb).max()) - base), np.uint8)
        for k in range(len(off)):
            buf = data[int(off[k]) - base:int(off[k] + nb[k]) - base]
            if len(buf) < 4 or google_crc32c.value(buf[:-4].tobytes()) != int.from_bytes(buf[-4:].tobytes(), "little"):
                raise StoreError(f"{f}: chunk {(row0 + k) % self.rows_per_shard} (row {row0 + k}) fails its crc32c "
                                 f"checksum (corrupt bytes); "
                                 f"{repair_hint(self.root, self.path, row0 + k)}")
