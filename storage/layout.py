"""Where an array's chunk (or shard) files lie: the chunk-key encoding new store arrays get, and file names.

New arrays use the "default" encoding with the "." separator: flat files `c.<i>.0.0.0` in the array's directory.
zarr's "/" default nests every shard as `c/<i>/0/0/0` (three directories per map shard: ~0.72 M directories
for full H36M, docs/benchmarks.md "Full-dataset size"). Stores written with "/" read unchanged: zarr and
`chunk_key` take the encoding from each array's metadata.
"""

from __future__ import annotations

from collections.abc import Callable

import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec
from zarr.core.chunk_key_encodings import parse_chunk_key_encoding

CHUNK_KEY_ENCODING = {"name": "default", "separator": "."}
CHECKSUMS = True  # every new array's chunks end with a crc32c (False only to make pre-checksum stores in tests)


def new_array(group: zarr.Group, name: str, **kwargs) -> zarr.Array:
    """`group.create_array(name, **kwargs)` with the store's chunk-key encoding and a crc32c checksum at the end of
    every (inner) chunk's codec chain (the one place both are set). `compressors` default: zarr's own (zstd 0).

    The checksum is verified on every read (tensorstore checks zarr's crc32c codec, storage/rowread.py) and by
    `pipeline check` without decoding (storage/shard_check.py); stores written before it have no checksum and read
    and check as before."""
    compressors = list(kwargs.pop("compressors")) if "compressors" in kwargs else [ZstdCodec(level=0, checksum=False)]
    return group.create_array(name, chunk_key_encoding=CHUNK_KEY_ENCODING,
                              compressors=[*compressors, Crc32cCodec()] if CHECKSUMS else compressors, **kwargs)


def chunk_key(encoding: dict) -> Callable[[tuple[int, ...]], str]:
    """Chunk-grid index -> file name relative to the array directory, for an array's metadata
    `chunk_key_encoding` (zarr.json dict): e.g. (3, 0, 0, 0) -> "c.3.0.0.0" ("." separator) or "c/3/0/0/0" ("/").
    ValueError / TypeError for an encoding zarr does not know."""
    return parse_chunk_key_encoding(encoding).encode_chunk_key
