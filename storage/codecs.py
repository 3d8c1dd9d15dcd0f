"""Named compression settings for feature maps (fp16) and small per-row arrays.

The lossless codecs were compared by `bench/store_bench.py`; the default map *encoding* (a codec name or a lossy
encoding of storage/encodings.py) by `bench/encodings_bench.py`; see docs/benchmarks.md.
"""

from __future__ import annotations

from zarr.codecs import BloscCodec, ZstdCodec

from schemas.errors import InputError

# The one place the default map encoding is set: bitround-2 (rounded to 2 mantissa bits, then blosc-zstd1: see
# storage/encodings.LOSSY_CODEC) stores 0.20x of raw fp16 (vs 0.60x for lossless blosc-zstd5) at ~2 core-ms per
# HRNet-W32 row to encode, and trained capf within 0.3% P1 of lossless on 2 seeds (docs/benchmarks.md, "Map
# encodings" and "Node budget").
DEFAULT_MAP_CODEC = "bitround-2"
SMALL_ARRAY_CODEC = "zstd3"


def _codecs(name: str, typesize: int) -> list:
    if name == "none":
        return []
    if name.startswith("zstd"):
        return [ZstdCodec(level=int(name[4:] or 3))]
    if name == "blosc-lz4":
        return [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle", typesize=typesize)]
    if name == "blosc-lz4-bit":
        return [BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle", typesize=typesize)]
    if name.startswith("blosc-zstd") and name.endswith("-bit"):
        return [BloscCodec(cname="zstd", clevel=int(name[10:-4]), shuffle="bitshuffle", typesize=typesize)]
    if name.startswith("blosc-zstd"):
        return [BloscCodec(cname="zstd", clevel=int(name[10:] or 1), shuffle="shuffle", typesize=typesize)]
    raise KeyError(name)


CODEC_NAMES = ("none", "zstd1", "zstd3", "blosc-lz4", "blosc-lz4-bit", "blosc-zstd1", "blosc-zstd1-bit", "blosc-zstd3",
               "blosc-zstd5", "blosc-zstd5-bit")


def numcodecs_codec(name: str, typesize: int = 2):
    """The numcodecs twin of a codec name (same bytes as the zarr codec); None for `none`."""
    import numcodecs

    comp = compressors(name, typesize)
    if not comp:
        return None
    d = comp[0].to_dict()
    cfg = d["configuration"]
    if d["name"] == "zstd":
        return numcodecs.Zstd(level=cfg["level"])
    return numcodecs.Blosc(cname=cfg["cname"], clevel=cfg["clevel"], blocksize=cfg.get("blocksize", 0),
                           shuffle={"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[cfg["shuffle"]])


def compressors(name: str, typesize: int = 2) -> list:
    """zarr v3 bytes->bytes codec list for a codec name (one of CODEC_NAMES)."""
    if name not in CODEC_NAMES:
        raise InputError(f"unknown codec {name!r}; choose one of: {', '.join(CODEC_NAMES)}")
    return _codecs(name, typesize)
