"""Store layer: allocation, clip writes, status/resume, backbone groups, schema checks, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import zarr

from schemas.arrays import DONE, PENDING
from schemas.errors import StoreError
from storage.store import Store
from tests.conftest import CAM, SMALL_LEVELS, backbone_batch, build_store, clip_rows


def test_allocation_is_shard_aligned_and_idempotent(tmp_path):
    store = Store.create(tmp_path / "s.zarr")
    ds = store.create_dataset("h36m", "h36m17", shard_rows=8)
    metas = [dict(subject="S1", action="A", subaction=str(i), camera="c", source="") for i in range(3)]
    idx = ds.allocate(metas, [10, 8, 1], [[CAM]] * 3)
    assert idx == [0, 1, 2]
    assert [c.start for c in ds.clips()] == [0, 16, 24]
    assert ds.n_rows == 32
    # same clips again (a rerun plans the same videos): nothing new is allocated
    assert ds.allocate(metas, [10, 8, 1], [[CAM]] * 3) == [0, 1, 2]
    assert ds.n_rows == 32
    with pytest.raises(StoreError, match="exists with 10 rows"):
        ds.allocate(metas[:1], [11], [[CAM]])


def test_write_then_read_round_trip(tmp_path):
    store = build_store(tmp_path / "s.zarr")
    ds = store.dataset("h36m")
    assert ds.pending() == [] and ds.pending("hrnet32") == []
    c = ds.clip(1)
    want = clip_rows(c.length, seed=1)
    want["camera"] = want["camera"] + 1  # clip-local camera 0 -> global camera 1 (one camera per clip)
    got = {k: ds.group["rows"][k][c.start:c.stop] for k in want}
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert (ds.group["rows/clip"][c.start:c.stop] == 1).all()
    # padding rows between clips stay marked as padding
    assert (ds.group["rows/clip"][c.stop:ds.clip(2).start] == -1).all()


def test_status_flips_only_after_the_whole_clip(tmp_path):
    store = Store.create(tmp_path / "s.zarr")
    ds = store.create_dataset("h36m", "h36m17", shard_rows=4)
    ds.allocate([dict(subject="S1", action="A", subaction="1", camera="c", source="")], [6], [[CAM]])
    ds.add_backbone("hrnet32", SMALL_LEVELS)
    ds.write_clip(0, clip_rows(6, 0))
    w = ds.backbone_writer("hrnet32", 0)
    w.append(backbone_batch(np.arange(5)))
    assert ds.status("hrnet32")[0] == PENDING  # a full shard was written, but the clip is not complete
    with pytest.raises(StoreError, match="got 5 of 6 rows; not marked done"):
        w.close()
    assert ds.pending("hrnet32") == [0]
    w = ds.backbone_writer("hrnet32", 0)
    w.append(backbone_batch(np.arange(6)))
    w.close()
    assert ds.status("hrnet32")[0] == DONE and ds.pending("hrnet32") == []


def test_write_clip_rejects_disagreeing_row_counts_and_changes_nothing(tmp_path):
    store = build_store(tmp_path / "s.zarr")
    ds = store.dataset("h36m")
    before = ds.group["rows/pose3d_cam"][:]
    rows = clip_rows(10, seed=99)
    rows["kp2d_gt"] = rows["kp2d_gt"][:9]
    with pytest.raises(StoreError, match=r"arrays disagree.*kp2d_gt.: 9.*nothing was written"):
        ds.write_clip(0, rows)
    rows = clip_rows(10, seed=99)
    rows["pose3d_cam"] = rows["pose3d_cam"][:, :16]
    with pytest.raises(StoreError, match=r"pose3d_cam.*shape \(10, 16, 3\), expected \(10, 17, 3\)"):
        ds.write_clip(0, rows)
    np.testing.assert_array_equal(ds.group["rows/pose3d_cam"][:], before)


def test_backbone_group_attrs_and_chunking(tmp_path):
    store = build_store(tmp_path / "s.zarr", shard_rows=8)
    g = store.dataset("h36m").group["backbones/hrnet32"]
    assert g.attrs["levels"] == {k: list(v) for k, v in SMALL_LEVELS.items()}
    s4 = g["s4"]
    assert s4.chunks == (1, 4, 16, 12) and s4.shards == (8, 4, 16, 12) and str(s4.dtype) == "float16"
    with pytest.raises(StoreError, match="exists with levels"):
        store.dataset("h36m").add_backbone("hrnet32", {"s4": (1, 2, 3)})


def test_new_clips_grow_every_row_array(tmp_path):
    store = build_store(tmp_path / "s.zarr")
    ds = store.dataset("h36m")
    n0 = ds.n_rows
    [ci] = ds.allocate([dict(subject="S11", action="Sitting", subaction="1", camera="c", source="")], [3], [[CAM]])
    assert ds.n_rows == n0 + 8
    g = ds.group["backbones/hrnet32"]
    assert g["s4"].shape[0] == n0 + 8 and g["kp2d"].shape[0] == n0 + 8 and g["status"].shape == (4,)
    assert ds.pending() == [ci] and ds.pending("hrnet32") == [ci]


def test_open_errors_name_the_path(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        Store.open(tmp_path / "file.txt")
    with pytest.raises(StoreError, match="is a file"):
        Store.create(tmp_path / "file.txt")
    (tmp_path / "dir").mkdir()
    with pytest.raises(StoreError, match="not a Zarr store"):
        Store.open(tmp_path / "dir")
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w").attrs["x"] = 1
    with pytest.raises(StoreError, match="not a ctxpose-cache store"):
        Store.open(tmp_path / "other.zarr")


@pytest.mark.parametrize("version,hint", [(99, "upgrade"), (0, "re-extract")])
def test_schema_version_mismatch_names_both_versions(tmp_path, version, hint):
    path = tmp_path / "s.zarr"
    build_store(path, with_maps=False)
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["schema_version"] = version
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=rf"schema version {version}, this tool reads version 1; {hint}"):
        Store.open(path)


def test_missing_array_is_reported_by_name(tmp_path):
    path = tmp_path / "s.zarr"
    build_store(path)
    shutil.rmtree(path / "h36m/rows/pose3d_cam")
    from storage.audit import check_store
    problems = check_store(path)
    assert any("rows/pose3d_cam: missing array" in p for p in problems)
