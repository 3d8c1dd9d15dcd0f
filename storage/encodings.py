"""Named feature-map encodings: how a backbone group stores its (N, C, H, W) float16 maps.

An encoding is chosen per backbone group (`pipeline extract --encoding`, `pipeline compact --encoding`) and recorded
in the group's attributes (`encoding`, `codec`, and `keepbits` / `quantisation` where decode needs them); readers
(storage/reader.py through storage/rowread.py) decode transparently and always return float16 (n, C, H, W).

- lossless, one of `storage.codecs.CODEC_NAMES` (e.g. `blosc-zstd5`): fp16 bytes with byte-shuffle + zstd/lz4.
- `bitround-k` (k = 1..9 kept mantissa bits of fp16's 10): each value is rounded to nearest (ties to even) with
  numcodecs' BitRound before the lossless stage (LOSSY_CODEC, blosc-zstd1; `bitround-k+CODEC` names another of
  CODEC_NAMES, e.g. `bitround-2+blosc-zstd5`, the default before issue 14), so the stored array is plain fp16 and
  decode is the lossless decode. The lossless stage changes bytes and speed, never the decoded values.
  Error <= 2^-(k+1) * |x| for normal fp16 numbers (<= 2^-(k+15) below 2^-14, the subnormals); the zeroed low
  bits make the shuffled bytes compress.
- `int8`: per-row, per-channel affine 8-bit codes: for row n, channel c, offset = min, scale = (max - min) / 255
  over (H, W); code = round((x - offset) / scale) in uint8 0..255, decoded as code * scale + offset (float32
  arithmetic, cast to fp16). scale/offset are stored beside the codes as `<level>_scale_offset` (N, C, 2) float32,
  so every row is encoded on its own (streaming writes, no calibration pass). Error <= scale / 2 per channel
  (+ the fp16 cast). Exact zeros stay zero when the channel's minimum is 0 (post-ReLU maps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numcodecs
import numpy as np

from schemas.errors import InputError
from storage.codecs import CODEC_NAMES

FP16_MANTISSA_BITS = 10
BITROUND_NAMES = tuple(f"bitround-{k}" for k in range(1, FP16_MANTISSA_BITS))
ENCODING_NAMES = (*CODEC_NAMES, *BITROUND_NAMES, "int8")
QPARAMS_SUFFIX = "_scale_offset"  # int8: <level>_scale_offset (N, C, 2) float32 = (scale, offset) per channel
# Lossless stage after bit-rounding / of the int8 codes: blosc-zstd1 encodes a bitround-2 HRNet-W32 row in ~2 core-ms
# for 0.20x raw fp16; level 5 took ~10 core-ms for 0.19x (bench/encodings_bench.py codecs, docs/benchmarks.md).
LOSSY_CODEC = "blosc-zstd1"
INT8_LEVELS = 255


@dataclass(frozen=True)
class Encoding:
    """A parsed encoding name. kind: lossless | bitround | int8; codec: the lossless stage (CODEC_NAMES)."""

    name: str
    kind: str
    codec: str
    keepbits: int = FP16_MANTISSA_BITS

    @property
    def stored_dtype(self) -> str:
        """dtype of the level arrays on disk."""
        return "uint8" if self.kind == "int8" else "float16"

    def attrs(self) -> dict:
        """Backbone-group attributes that record this encoding (what decode needs)."""
        out: dict = {"encoding": self.name, "codec": self.codec}
        if self.kind == "bitround":
            out["keepbits"] = self.keepbits
        if self.kind == "int8":
            out["quantisation"] = {"codes": "uint8", "params": f"<level>{QPARAMS_SUFFIX}", "per": "row, channel",
                                   "decode": "code * scale + offset"}
        return out

    def encode(self, maps: np.ndarray) -> dict[str, np.ndarray]:
        """(n, C, H, W) float16 -> {array-name suffix: stored array}: "" is the level array itself."""
        maps = np.asarray(maps, dtype=np.float16)
        if self.kind == "bitround":
            return {"": bitround(maps, self.keepbits)}
        if self.kind == "int8":
            codes, qparams = quantize_int8(maps)
            return {"": codes, QPARAMS_SUFFIX: qparams}
        return {"": maps}


def parse_encoding(name: str) -> Encoding:
    """Encoding for a name of ENCODING_NAMES, or `LOSSY+CODEC` (a bitround-k or int8 name with its lossless stage
    named, e.g. `bitround-2+blosc-zstd5`); InputError listing the valid names otherwise."""
    base, plus, codec = name.partition("+")
    if plus and (base in CODEC_NAMES or codec not in CODEC_NAMES):
        base = ""  # a lossless name takes no second codec; an unknown codec is an unknown name
    if base in CODEC_NAMES:
        return Encoding(name, "lossless", name)
    if base in BITROUND_NAMES:
        return Encoding(name, "bitround", codec or LOSSY_CODEC, int(base.split("-")[1]))
    if base == "int8":
        return Encoding(name, "int8", codec or LOSSY_CODEC)
    raise InputError(f"unknown encoding {name!r}; choose one of: {', '.join(ENCODING_NAMES)} (a lossy one may name "
                     f"its lossless stage: bitround-2+blosc-zstd5)")


def group_encoding(attrs: dict) -> Encoding:
    """The encoding a backbone group was written with (groups older than encodings: their lossless codec). The
    recorded `codec` is the lossless stage its arrays were made with (bitround-k groups written before issue 14
    used blosc-zstd5 under the same name)."""
    enc = parse_encoding(str(attrs.get("encoding", attrs.get("codec", "zstd3"))))
    codec = attrs.get("codec")
    if enc.kind != "lossless" and codec in CODEC_NAMES and codec != enc.codec:
        enc = Encoding(enc.name, enc.kind, codec, enc.keepbits)
    return enc


def bitround(maps: np.ndarray, keepbits: int) -> np.ndarray:
    """float16 array with all but `keepbits` mantissa bits rounded off (nearest, ties to even); same shape."""
    if not 1 <= keepbits <= FP16_MANTISSA_BITS:
        raise InputError(f"bitround keeps 1..{FP16_MANTISSA_BITS} fp16 mantissa bits, got {keepbits}")
    maps = np.ascontiguousarray(maps, dtype=np.float16)
    return np.asarray(numcodecs.BitRound(keepbits).encode(maps)).view(np.float16).reshape(maps.shape)


def quantize_int8(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, C, H, W) float -> codes (n, C, H, W) uint8 and qparams (n, C, 2) float32 (scale, offset) per channel."""
    x = np.asarray(maps, dtype=np.float32)
    lo = x.min(axis=(2, 3))
    scale = (x.max(axis=(2, 3)) - lo) / INT8_LEVELS
    inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
    codes = np.rint((x - lo[:, :, None, None]) * inv[:, :, None, None])
    codes = np.clip(codes, 0, INT8_LEVELS, out=codes).astype(np.uint8)
    return codes, np.stack([scale, lo], axis=-1).astype(np.float32)


def dequantize_int8(codes: np.ndarray, qparams: np.ndarray, out: np.ndarray | None = None,
                    dtype: str = "float16") -> np.ndarray:
    """codes (n, C, H, W) uint8 + qparams (n, C, 2) float32 -> (n, C, H, W) `dtype` = code * scale + offset.

    Values are computed in float32 and cast once. numpy's float32->float16 cast is the slow step, so large levels
    (H*W >= 512) go through a per-row (C, 256) table of the decoded values (256 casts per channel, then a gather:
    ~3x faster on s4); small levels cast their H*W values directly. Both give the same values."""
    n, ch = codes.shape[:2]
    if out is None:
        out = np.empty(codes.shape, dtype=dtype)
    scale, offset = qparams[:, :, 0, None], qparams[:, :, 1, None]
    if codes[0, 0].size < 2 * (INT8_LEVELS + 1) if n else True:
        tmp = np.empty(codes.shape[1:], dtype=np.float32)
        for i in range(n):  # one row at a time: float32 temporaries stay in cache
            np.multiply(codes[i], scale[i, :, :, None], out=tmp)
            np.add(tmp, offset[i, :, :, None], out=tmp)
            out[i] = tmp
        return out
    table = (np.arange(INT8_LEVELS + 1, dtype=np.float32) * scale + offset).astype(out.dtype)  # (n, C, 256)
    base = (np.arange(ch, dtype=np.int32) * (INT8_LEVELS + 1)).reshape(ch, *([1] * (codes.ndim - 2)))
    for i in range(n):
        np.take(table[i].reshape(-1), codes[i] + base, out=out[i])
    return out
