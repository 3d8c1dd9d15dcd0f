"""Joint features (CA-PF-S cache): the sampling function, `pipeline derive --joint-features` (round trip against
the stored maps, resume), `extract --joint-features` (process_clip) against derive, Reader errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from lifters.models.deformable import sample_points
from pipeline.joint_features import derive_joint_features, sample_joint_features
from schemas.arrays import DONE, PENDING
from schemas.crop_coords import bilinear_at, image_to_ref
from schemas.errors import StoreError
from schemas.joints import JOINT_SETS
from storage.audit import store_info
from storage.reader import Reader
from storage.store import Store
from tests._lifter_store import real_store
from tests.conftest import SMALL_LEVELS, build_store


def test_sample_joint_features_hand_bilinear():
    """A 3x4 ramp map sampled between pixels equals the hand-computed bilinear value; levels concatenate."""
    m = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)  # value = 4 * row + col
    m2 = np.stack([m[0, 0], 10 * m[0, 0]])[None]  # (1, 2, 3, 4)
    # pixel (col 1.5, row 0.5): x = 2 * 1.5 / 3 - 1 = 0, y = 2 * 0.5 / 2 - 1 = -0.5 (align_corners=True)
    ref = np.array([[[0.0, -0.5], [-1.0, -1.0], [1.0, 1.0]]], np.float32)
    out = sample_joint_features({"a": m, "b": m2}, ref)
    assert out.dtype == np.float16 and out.shape == (1, 3, 3)
    want_mid = 4 * 0.5 + 1.5  # bilinear of a linear ramp = the ramp at the point
    np.testing.assert_allclose(out[0, 0], [want_mid, want_mid, 10 * want_mid], rtol=1e-3)
    np.testing.assert_allclose(out[0, 1], [0, 0, 0])
    np.testing.assert_allclose(out[0, 2], [11, 11, 110])


def test_bilinear_at_equals_the_lifters_grid_sample():
    """The extraction-side numpy sampler gives the lifters' grid_sample values (incl. border clamping)."""
    import torch

    rng = np.random.default_rng(0)
    m = rng.normal(size=(3, 5, 8, 6)).astype(np.float32)
    ref = rng.uniform(-1.2, 1.2, size=(3, 17, 2)).astype(np.float32)
    want = sample_points(torch.from_numpy(m), torch.from_numpy(ref)).numpy()
    np.testing.assert_allclose(bilinear_at(m, ref), want, atol=1e-5)


def test_derive_round_trip_and_resume(tmp_path: Path):
    """Derived feat == sampling the stored maps at the stored 2D (through the crop affine); a second derive skips
    every done clip; a clip reset to PENDING is derived again, alone."""
    store = tmp_path / "s.zarr"
    build_store(store)
    runner = CliRunner()
    res = runner.invoke(app, ["derive", str(store), "--backbone", "hrnet32", "--joint-features"])
    assert res.exit_code == 0, res.output
    assert "3 clip(s), 22 rows" in res.output
    r = Reader(store, joint_features=True)
    rows = r.rows()
    d = r.read(rows, fields=("affine",), maps=True, joint_features=True)
    ref = image_to_ref(d["kp2d"], d["affine"], (256, 192))
    want = sample_joint_features({lv: d[lv] for lv in SMALL_LEVELS}, ref)
    np.testing.assert_array_equal(d["joint_features"], want)
    assert d["joint_features"].shape == (22, 17, sum(s[0] for s in SMALL_LEVELS.values()))
    j = r.group["backbones/hrnet32/joints"]
    assert dict(j.attrs)["keypoints"] == "gt" and dict(j.attrs)["dim"] == 60
    assert list(dict(j.attrs)["levels"]) == list(SMALL_LEVELS)
    info = store_info(store)["datasets"]["h36m"]["backbones"]["hrnet32"]["arrays"]
    [feat] = [a for a in info if a["path"].endswith("joints/feat")]  # `pipeline info` lists the joint features
    assert feat["row_shape"] == [17, 60] and feat["raw_bytes_written_rows"] == 22 * 17 * 60 * 2  # 22 rows, fp16

    again = derive_joint_features(str(store), "hrnet32")
    assert (again.done, again.skipped) == (0, 3)
    ds = Store.open(store, mode="r+").dataset("h36m")
    ds.group["backbones/hrnet32/joints/status"][1] = PENDING
    ds.group["backbones/hrnet32/joints/feat"][ds.clip(1).start:ds.clip(1).stop] = 0
    redo = derive_joint_features(str(store), "hrnet32")
    assert (redo.done, redo.skipped, redo.rows) == (1, 2, 7)
    np.testing.assert_array_equal(Reader(store, joint_features=True).read(rows, joint_features=True)
                                  ["joint_features"], want)


def test_derive_bad_input(tmp_path: Path):
    store = tmp_path / "s.zarr"
    build_store(store, with_maps=False)
    runner = CliRunner()
    res = runner.invoke(app, ["derive", str(store), "--backbone", "hrnet32", "--joint-features"])
    assert isinstance(res.exception, StoreError) and "no backbone maps 'hrnet32'" in str(res.exception)
    res = runner.invoke(app, ["derive", str(store), "--backbone", "hrnet32"])
    assert "--joint-features" in str(res.exception)
    with pytest.raises(StoreError, match=r"pipeline derive .* --joint-features"):
        Reader(store, joint_features=True)


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
def test_extract_joint_features_equals_derive(tmp_path_factory, tmp_path: Path, one_torch_thread):
    """process_clip with --joint-features (maps already there: only the joint features run) writes what
    `pipeline derive` writes, flipped crops included (flipped joint order, flipped maps)."""
    from flows.work import BackboneRequest, ExtractOptions, process_clip
    from pipeline.datasets.registry import get_adapter

    src = real_store(tmp_path_factory)
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    shutil.copytree(src, a)
    shutil.copytree(src, b)
    derive_joint_features(str(a), "hrnet32")
    clips, _ = get_adapter("h36m").list_clips(src.parent / "raw")  # the raw data the store was extracted from
    ds = Store.open(b, mode="r+").dataset("h36m")
    idx = ds.allocate([c.meta() for c in clips], [c.length for c in clips], [c.cameras for c in clips])
    ds.add_joint_features("hrnet32", "gt")  # as the extract flow does after planning
    for i, clip in zip(idx, clips, strict=True):
        res = process_clip(str(b), "h36m", i, clip, BackboneRequest("hrnet32"),
                           ExtractOptions(flip=True, joint_features=True))
        assert not res.skipped
    ra, rb = Reader(a, joint_features=True), Reader(b, joint_features=True)
    rows = ra.rows()
    assert len(rows) == 16 and np.array_equal(rows, rb.rows())
    for flip in (False, True):
        fa = ra.read(rows, fields=(), joint_features=True, flip=flip)["joint_features"]
        fb = rb.read(rows, fields=(), joint_features=True, flip=flip)["joint_features"]
        np.testing.assert_array_equal(fa, fb)
        assert np.abs(fa.astype(np.float32)).sum() > 0
    # the flipped features are the flipped maps sampled at the mirrored, left/right-swapped joints
    perm = JOINT_SETS["h36m17"].flip_permutation()
    d = ra.read(rows[:2], fields=("affine",), maps=True, flip=True, joint_features=True)
    fref = image_to_ref(d["kp2d"], d["affine"], (256, 192), np.ones(2, bool), perm)
    np.testing.assert_array_equal(d["joint_features"],
                                  sample_joint_features({lv: d[lv] for lv in ra.levels}, fref))
    assert (np.asarray(Store.open(b).dataset("h36m").group["backbones/hrnet32/joints/status"][:]) == DONE).all()

