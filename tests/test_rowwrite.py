"""Rows written through tensorstore (storage/rowwrite.py) are the bytes zarr-python writes for the same rows, and
each library reads the other's files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from storage.rowread import RowArrays
from storage.shard_check import ShardIndex
from storage.store import Store
from tests.conftest import backbone_batch, build_store


def _data_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("c*")) if p.is_file()}


@pytest.mark.parametrize("codec", ["bitround-2", "zstd3"])
def test_tensorstore_writes_zarrs_bytes(tmp_path: Path, codec: str) -> None:
    ts_store, zarr_store = tmp_path / "ts.zarr", tmp_path / "zarr.zarr"
    build_store(ts_store, codec=codec)  # every row written through tensorstore, in 3-row appends
    shutil.copytree(ts_store, zarr_store)
    ds = Store.open(zarr_store, mode="r+").dataset("h36m")
    arrays = [a for _, a in ds.group["rows"].arrays()]
    arrays += [a for n, a in ds.group["backbones/hrnet32"].arrays() if n != "status"]
    for arr in arrays:  # the same rows written again by zarr-python, clip by clip, into fresh files
        data = arr[:]
        for f in (zarr_store / arr.path).glob("c*"):
            f.unlink()
        for c in ds.clips():
            arr[c.start:c.stop] = data[c.start:c.stop]
    ts_files, zarr_files = _data_files(ts_store), _data_files(zarr_store)
    assert len(ts_files) > 20 and sorted(ts_files) == sorted(zarr_files)
    assert [k for k in ts_files if ts_files[k] != zarr_files[k]] == []  # identical bytes, file by file
    g = zarr.open_group(str(ts_store), mode="r")
    c1 = ds.clip(1)
    want = backbone_batch(np.arange(c1.start, c1.stop))
    if codec == "zstd3":  # lossless: zarr reads the values tensorstore wrote
        np.testing.assert_array_equal(g["h36m/backbones/hrnet32/s8"][c1.start:c1.stop], want["s8"])
    np.testing.assert_array_equal(g["h36m/backbones/hrnet32/kp2d"][c1.start:c1.stop], want["kp2d"])
    rows = np.arange(ds.n_rows)
    np.testing.assert_array_equal(RowArrays(zarr_store).take("h36m/backbones/hrnet32/s4", rows),
                                  g["h36m/backbones/hrnet32/s4"][:])  # tensorstore reads zarr's files


def test_all_zero_rows_keep_their_chunks(tmp_path: Path) -> None:
    """A row equal to the fill value (all-zero maps) is still stored: `pipeline check` expects every row's chunk."""
    path = tmp_path / "s.zarr"
    build_store(path, lengths=((("S1", "Walking", "1"), 8),), with_maps=True, codec="zstd3")
    ds = Store.open(path, mode="r+").dataset("h36m")
    w = ds.backbone_writer("hrnet32", 0)
    batch = backbone_batch(np.arange(8))
    batch["s8"][3] = 0
    w.append(batch)
    w.close()
    np.testing.assert_array_equal(zarr.open_array(str(path / "h36m/backbones/hrnet32/s8"))[3], 0)
    ShardIndex.open(path, "h36m/backbones/hrnet32/s8").verify(0, 8)


def test_rows_are_cast_to_the_arrays_dtype(tmp_path: Path) -> None:
    """float64 2D / float32 maps are stored as the arrays' float32 / float16, as zarr's assignment did (tensorstore
    alone refuses such casts)."""
    path = tmp_path / "s.zarr"
    build_store(path, lengths=((("S1", "Walking", "1"), 8),), codec="zstd3")
    ds = Store.open(path, mode="r+").dataset("h36m")
    batch = backbone_batch(np.arange(8))
    w = ds.backbone_writer("hrnet32", 0)
    w.append({k: v.astype(np.float64 if k.startswith("kp2d") else np.float32) for k, v in batch.items()})
    w.close()
    got = RowArrays(path).read({f"h36m/backbones/hrnet32/{k}": np.arange(8) for k in ("kp2d", "s4")})
    np.testing.assert_array_equal(got["h36m/backbones/hrnet32/kp2d"], batch["kp2d"])
    np.testing.assert_array_equal(got["h36m/backbones/hrnet32/s4"], batch["s4"])
    assert got["h36m/backbones/hrnet32/s4"].dtype == np.float16
