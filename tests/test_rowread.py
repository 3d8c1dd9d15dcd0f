"""The tensorstore row reader returns exactly what zarr returns, for every codec and layout the store writes."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from schemas.errors import StoreError
from storage.codecs import CODEC_NAMES
from storage.rowread import RowArrays
from tests.conftest import build_store


@pytest.mark.parametrize("codec", CODEC_NAMES)
def test_reads_equal_zarr_reads(tmp_path, codec):
    path = tmp_path / "s.zarr"
    build_store(path, codec=codec)
    rng = np.random.default_rng(0)
    g = zarr.open_group(str(path), mode="r")
    arrays = ["h36m/rows/pose3d_cam", "h36m/rows/valid", "h36m/rows/clip", "h36m/backbones/hrnet32/kp2d",
              *(f"h36m/backbones/hrnet32/{lv}" for lv in ("s4", "s8", "s16", "s32"))]
    io = RowArrays(path)
    batch = {name: rng.choice(g[name].shape[0], 12) for name in arrays}  # any order, repeats, never-written rows
    got = io.read(batch)  # all arrays in one call
    for name, rows in batch.items():
        np.testing.assert_array_equal(got[name], g[name].oindex[rows], err_msg=f"{codec} {name}")
        assert got[name].dtype == g[name].dtype
    np.testing.assert_array_equal(io.whole("h36m/rows/clip"), g["h36m/rows/clip"][:])
    assert io.take("h36m/rows/clip", np.zeros(0, np.int64)).shape == (0,)


def test_truncated_shard_is_a_clear_error(tmp_path):
    path = tmp_path / "s.zarr"
    build_store(path, codec="none")
    shard = path / "h36m/backbones/hrnet32/s8/c.0.0.0.0"
    shard.write_bytes(shard.read_bytes()[:50])
    with pytest.raises(StoreError, match=r"hrnet32/s8/c\.0\.0\.0\.0: cannot read rows of s8 \(.*\).*pipeline check"):
        RowArrays(path).take("h36m/backbones/hrnet32/s8", np.array([1]))


def test_missing_array_is_a_clear_error(tmp_path):
    build_store(tmp_path / "s.zarr")
    with pytest.raises(StoreError, match=r"h36m/rows/nothing: cannot open the array .*pipeline check"):
        RowArrays(tmp_path / "s.zarr").take("h36m/rows/nothing", np.array([1]))


def test_written_rows_read_back_and_zero_rows_are_stored(tmp_path):
    """write_rows (the backbone writer's path) stores every row, an all-zero one too (`pipeline check` expects
    each row's chunk), in bytes zarr reads back."""
    from storage.layout import new_array
    from storage.rowread import open_array, write_rows
    from storage.shard_check import ShardIndex

    g = zarr.open_group(str(tmp_path / "x.zarr"), mode="w")
    new_array(g, "m", shape=(16, 2, 3), chunks=(1, 2, 3), shards=(8, 2, 3), dtype="float16", fill_value=0)
    data = np.arange(8 * 6, dtype=np.float16).reshape(8, 2, 3)
    data[3] = 0
    write_rows({"m": open_array(tmp_path / "x.zarr", "m", write=True)}, 8, {"m": data})
    np.testing.assert_array_equal(g["m"][8:16], data)
    ShardIndex.open(tmp_path / "x.zarr", "m").verify(8, 16)  # row 11 (all zeros) has its chunk
