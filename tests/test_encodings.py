"""Map encodings (storage/encodings.py): golden values, error bounds, store round trips, row reader == zarr read."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import zarr

from schemas.errors import InputError
from storage.codecs import CODEC_NAMES
from storage.encodings import (
    ENCODING_NAMES,
    QPARAMS_SUFFIX,
    bitround,
    dequantize_int8,
    group_encoding,
    parse_encoding,
    quantize_int8,
)
from storage.reader import Reader
from storage.rowread import RowArrays
from tests._cli import PIPELINE
from tests.conftest import SMALL_LEVELS, build_store


def relu_maps(n: int, shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """(n, C, H, W) float16 post-ReLU-like activations: ~30% exact zeros, per-channel scales over 3 decades."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.uniform(-2, 1, (1, shape[0], 1, 1))
    x = rng.normal(0.3, 1.0, (n, *shape)) * scale
    return np.maximum(x, 0).astype(np.float16)


def encoded_store(path: Path, encoding: str, seed: int = 0) -> tuple[Path, dict[str, np.ndarray]]:
    """A 3-clip store whose backbone group (+ flip) is written through ClipWriter in `encoding`; returns the maps."""
    store = build_store(path, with_maps=False)
    ds = store.dataset("h36m")
    ds.add_backbone("hrnet32", SMALL_LEVELS, codec=encoding, flip=True)
    written: dict[str, np.ndarray] = {}
    for k, c in enumerate(ds.clips()):
        batch = {"kp2d": np.full((c.length, 17, 2), k, np.float32), "kp2d_score": np.ones((c.length, 17), np.float32)}
        for lv, shape in SMALL_LEVELS.items():
            batch[lv] = relu_maps(c.length, shape, seed + 10 * k)
            batch[f"flip/{lv}"] = relu_maps(c.length, shape, seed + 10 * k + 1)
        w = ds.backbone_writer("hrnet32", c.index)
        w.append({n: a[:4] for n, a in batch.items()})
        w.append({n: a[4:] for n, a in batch.items()})
        w.close()
        for n, a in batch.items():
            written.setdefault(n, np.zeros((ds.n_rows, *a.shape[1:]), a.dtype))[c.start:c.stop] = a
    return path, written


def test_parse_lists_valid_names_and_records_attrs():
    with pytest.raises(InputError, match=r"unknown encoding 'bitround-10'; choose one of: none, .*bitround-9, int8"):
        parse_encoding("bitround-10")
    assert parse_encoding("bitround-3").attrs() == {"encoding": "bitround-3", "codec": "blosc-zstd1", "keepbits": 3}
    assert parse_encoding("bitround-2+blosc-zstd5").attrs() == {"encoding": "bitround-2+blosc-zstd5",
                                                                "codec": "blosc-zstd5", "keepbits": 2}
    for bad in ("bitround-2+lz9", "blosc-zstd5+zstd1", "int8+"):
        with pytest.raises(InputError, match=f"unknown encoding '{re.escape(bad)}'"):
            parse_encoding(bad)
    # a bitround group written before issue 14 (blosc-zstd5 under the same name) reports its recorded codec
    old = group_encoding({"encoding": "bitround-2", "codec": "blosc-zstd5", "keepbits": 2})
    assert (old.name, old.codec, old.keepbits) == ("bitround-2", "blosc-zstd5", 2)
    assert parse_encoding("int8").stored_dtype == "uint8" and parse_encoding("zstd3").kind == "lossless"
    assert group_encoding({"codec": "blosc-zstd1"}).name == "blosc-zstd1"  # groups written before encodings
    assert set(CODEC_NAMES) < set(ENCODING_NAMES)


def test_bitround_golden_values_ties_to_even():
    x = np.array([1.125, 1.375, 1.25, 1.3125, -1.375, 0.0], np.float16)  # 1.001b, 1.011b, 1.01b, 1.0101b
    np.testing.assert_array_equal(bitround(x, 2), np.array([1.0, 1.5, 1.25, 1.25, -1.5, 0.0], np.float16))
    np.testing.assert_array_equal(bitround(x, 10), x)


@pytest.mark.parametrize("k", range(1, 10))
def test_bitround_relative_error_bound(k):
    rng = np.random.default_rng(k)
    x = (rng.choice([-1, 1], 20000) * 10.0 ** rng.uniform(-4, 4, 20000)).astype(np.float16)  # normal fp16 range
    y = bitround(x, k).astype(np.float64)
    x = x.astype(np.float64)
    assert np.all(np.abs(x - y) <= 2.0 ** -(k + 1) * np.abs(x))
    assert np.abs(x - y).max() > 2.0 ** -(k + 3) * np.abs(x).max() / 1e4  # it does round something


def test_int8_golden_codes_and_constant_channel():
    x = np.zeros((1, 2, 2, 2), np.float16)
    x[0, 0] = [[0.0, 0.25], [0.5, 63.75]]  # offset 0, scale 0.25 -> codes 0, 1, 2, 255
    x[0, 1] = 3.0  # constant channel: scale 0, decodes exactly
    codes, q = quantize_int8(x)
    np.testing.assert_array_equal(codes[0, 0], [[0, 1], [2, 255]])
    np.testing.assert_array_equal(codes[0, 1], 0)
    np.testing.assert_array_equal(q[0], [[0.25, 0.0], [0.0, 3.0]])
    np.testing.assert_array_equal(dequantize_int8(codes, q), x)


def test_int8_error_within_half_a_step_per_channel():
    x = relu_maps(5, (16, 8, 6), seed=3)
    codes, q = quantize_int8(x)
    y32 = dequantize_int8(codes, q, dtype="float32")
    half = q[:, :, 0, None, None] / 2
    err = np.abs(x.astype(np.float32) - y32)
    assert np.all(err <= half * (1 + 1e-5) + 1e-7)
    assert err.max() > 0.2 * half.max()  # lossy for real
    y16 = dequantize_int8(codes, q)  # the reader's fp16 output: plus one fp16 rounding
    assert y16.dtype == np.float16
    assert np.all(np.abs(x.astype(np.float32) - y16) <= half * (1 + 1e-5) + np.abs(y32) * 2.0 ** -11 + 1e-7)
    np.testing.assert_array_equal(y32[x == 0], 0)  # post-ReLU zeros stay exact (channel min is 0)


@pytest.mark.parametrize("encoding", ["blosc-zstd5", "zstd3", "bitround-2", "int8"])
def test_store_round_trip_and_fast_read_equals_zarr(tmp_path, encoding):
    path, written = encoded_store(tmp_path / "s.zarr", encoding)
    r = Reader(path, backbone="hrnet32")
    rng = np.random.default_rng(1)
    rows = rng.choice(r.rows(), 9)  # any order, repeats
    got, got_flip = r.read(rows, maps=True), r.read(rows, maps=True, flip=True)
    enc = parse_encoding(encoding)
    g = zarr.open_group(str(path), mode="r")["h36m/backbones/hrnet32"]
    for lv in SMALL_LEVELS:
        for key, out in ((lv, got[lv]), (f"flip/{lv}", got_flip[lv])):
            x = written[key][rows].astype(np.float64)
            assert out.dtype == np.float16 and out.shape == x.shape and g[key].dtype == enc.stored_dtype
            stored = g[key].oindex[rows]  # zarr's own read of what is on disk
            assert np.array_equal(RowArrays(path).take(g[key].path, rows), stored), key
            if enc.kind == "lossless":
                np.testing.assert_array_equal(out, x)
            elif enc.kind == "bitround":
                np.testing.assert_array_equal(out, stored)
                bound = 2.0 ** -(enc.keepbits + 1) * np.maximum(np.abs(x), 2.0**-14)  # subnormals: absolute
                assert np.all(np.abs(out.astype(np.float64) - x) <= bound)
            else:
                qz = g[key + QPARAMS_SUFFIX].oindex[rows]
                assert np.array_equal(RowArrays(path).take(g[key + QPARAMS_SUFFIX].path, rows), qz)
                np.testing.assert_array_equal(out, dequantize_int8(stored, qz))  # fast decode == zarr + decode
                half = qz[:, :, 0, None, None] / 2
                assert np.all(np.abs(out.astype(np.float32) - x) <= half * 1.0001 + np.abs(x) * 2.0 ** -11 + 1e-7)
    assert g.attrs["encoding"] == encoding


def test_lossless_stage_changes_bytes_never_values(tmp_path):
    """The default bitround-2 (blosc-zstd1) and the old default bitround-2+blosc-zstd5 store the same values (so
    the same MPJPE); old groups keep reading and their recorded codec is what their arrays use."""
    new, written = encoded_store(tmp_path / "new.zarr", "bitround-2")
    old, _ = encoded_store(tmp_path / "old.zarr", "bitround-2+blosc-zstd5")
    rows = np.arange(Reader(new).num_rows)
    a, b = Reader(new).read(rows, maps=True), Reader(old).read(rows, maps=True)
    for lv in SMALL_LEVELS:
        np.testing.assert_array_equal(a[lv], b[lv])
        np.testing.assert_array_equal(a[lv], bitround(written[lv], 2))
    g = zarr.open_group(str(new), mode="r")["h36m/backbones/hrnet32"]
    assert g["s4"].metadata.codecs[0].codecs[1].to_dict()["configuration"]["clevel"] == 1


@pytest.mark.e2e  # the installed console script in a subprocess
def test_extract_cli_rejects_unknown_encoding(tmp_path):
    import subprocess

    (tmp_path / "raw").mkdir()
    r = subprocess.run([PIPELINE, "extract", "--dataset", "h36m", "--root",
                        str(tmp_path / "raw"), "--store", str(tmp_path / "s.zarr"), "--encoding", "int4"],
                       capture_output=True, text=True, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1 and "unknown encoding 'int4'; choose one of:" in r.stderr and "bitround-3" in r.stderr
    assert not (tmp_path / "s.zarr").exists()


def test_resume_keeps_the_groups_encoding_and_refuses_another(tmp_path):
    """A rerun without an encoding resumes the group as written; asking for another one is a clear error."""
    from schemas.errors import StoreError

    ds = build_store(tmp_path / "s.zarr", codec="blosc-zstd5").dataset("h36m")
    g = ds.add_backbone("hrnet32", SMALL_LEVELS)  # codec None: resume as written
    assert g.attrs["encoding"] == "blosc-zstd5"
    assert ds.add_backbone("hrnet32", SMALL_LEVELS, codec="blosc-zstd5").attrs["encoding"] == "blosc-zstd5"
    with pytest.raises(StoreError, match="exists with map encoding 'blosc-zstd5'.*asks for 'bitround-2'.*compact"):
        ds.add_backbone("hrnet32", SMALL_LEVELS, codec="bitround-2")
