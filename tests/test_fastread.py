"""The fast row reader returns exactly what zarr returns, for every codec and layout the store writes."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from schemas.errors import StoreError
from storage.codecs import CODEC_NAMES
from storage.fastread import FastArray
from tests.conftest import build_store


@pytest.mark.parametrize("codec", CODEC_NAMES)
def test_fast_reads_equal_zarr_reads(tmp_path, codec):
    path = tmp_path / "s.zarr"
    build_store(path, codec=codec)
    rng = np.random.default_rng(0)
    g = zarr.open_group(str(path), mode="r")
    arrays = ["h36m/rows/pose3d_cam", "h36m/rows/valid", "h36m/rows/clip", "h36m/backbones/hrnet32/kp2d",
              *(f"h36m/backbones/hrnet32/{lv}" for lv in ("s4", "s8", "s16", "s32"))]
    for name in arrays:
        fast = FastArray.open(path, name)
        assert fast is not None, name
        n = g[name].shape[0]
        rows = rng.choice(n, 12)  # any order, repeats, and padding rows never written (fill values)
        np.testing.assert_array_equal(fast.read(rows), g[name].oindex[rows], err_msg=f"{codec} {name}")


def test_unsupported_layout_falls_back(tmp_path):
    g = zarr.open_group(str(tmp_path / "x.zarr"), mode="w")
    g.create_array("a", shape=(10, 4), chunks=(5, 2), dtype="f4")  # chunked across columns: not a row layout
    assert FastArray.open(tmp_path / "x.zarr", "a") is None


def test_truncated_shard_is_a_clear_error(tmp_path):
    path = tmp_path / "s.zarr"
    build_store(path, codec="none")
    shard = path / "h36m/backbones/hrnet32/s8/c.0.0.0.0"
    shard.write_bytes(shard.read_bytes()[:50])
    with pytest.raises(StoreError, match=r"s8/c\.0\.0\.0\.0: shard shorter than its index"):
        FastArray.open(path, "h36m/backbones/hrnet32/s8").read(np.array([1]))
