"""3DHP's univ_annot3 from the raw files into the store and back (beside annot3), the --target choice, and
cross-dataset evaluation: an H36M-trained run on a 3DHP store, joints mapped, PCK/AUC on the mapped joints."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

from cli.main import app
from flows.work import gt_rows
from lifters.config import TrainConfig
from lifters.data import LiftingData, split_rows
from lifters.evaluate import evaluate_run
from lifters.train import train
from pipeline.datasets import mpi3dhp
from pipeline.synth.mpi3dhp import synth_3dhp
from schemas.errors import StoreError
from schemas.joints import convert
from storage.reader import Reader
from storage.store import Store
from tests.conftest import build_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def raw_and_store(tmp_path_factory):
    """Synthetic raw 3DHP (S1 Seq1 cameras 0, 2 x 4 frames; TS5 x 2 frames) written into a store's rows the way
    `pipeline extract` writes them (flows.work.gt_rows, the dataset created with the adapter's optional rows)."""
    base = tmp_path_factory.mktemp("univ")
    raw, path = base / "raw", base / "3dhp.zarr"
    synth_3dhp(raw, ["S1"], ["Seq1"], frames=4, seed=1, cameras=[0, 2], size=128)
    synth_3dhp(raw, ["TS5"], frames=2, seed=1)
    clips, _ = mpi3dhp.ADAPTER.list_clips(raw)
    ds = Store.create(path).create_dataset("3dhp", "mpi17", shard_rows=8,
                                           optional_rows=tuple(clips[0].optional_rows()))
    idx = ds.allocate([c.meta() for c in clips], [c.length for c in clips], [c.cameras for c in clips])
    for i, c in zip(idx, clips, strict=True):
        ds.write_clip(i, gt_rows(c, np.tile(np.float32([0, 0, 100, 100]), (c.length, 1)), (256, 192)))
    return raw, path


def test_univ_annot3_round_trips_from_the_raw_files(raw_and_store):
    raw, path = raw_and_store
    r = Reader(path)
    keys = {f"{c.subject}/{c.action}/{c.camera}": np.arange(c.start, c.stop) for c in r.clip_table}
    assert sorted(keys) == ["S1/Seq1/0", "S1/Seq1/2", "TS5/Test/outdoor"]
    mat = scipy.io.loadmat(str(raw / "S1/Seq1/annot.mat"))
    got = r.read(keys["S1/Seq1/2"], fields=("pose3d_cam", "pose3d_univ"))
    want_univ = convert(mat["univ_annot3"][2, 0].reshape(4, 28, 3), "mpi28", "mpi17")
    want_a3 = convert(mat["annot3"][2, 0].reshape(4, 28, 3), "mpi28", "mpi17")
    np.testing.assert_allclose(got["pose3d_univ"], want_univ, rtol=1e-6)
    np.testing.assert_allclose(got["pose3d_cam"], want_a3, rtol=1e-6)
    assert np.abs(got["pose3d_univ"] - got["pose3d_cam"]).max() > 1.0  # two different targets
    with h5py.File(raw / "TS5/annot_data.mat", "r") as f:
        want_test = np.asarray(f["univ_annot3"]).reshape(-1, 17, 3)
    np.testing.assert_allclose(r.read(keys["TS5/Test/outdoor"], fields=("pose3d_univ",))["pose3d_univ"],
                               want_test, rtol=1e-6)
    # the loader's target: univ (3DHP default of the recipes) vs annot3, root-relative metres
    test = split_rows(r, "test")
    univ = LiftingData(r, test, maps=False, target="pose3d_univ").batch(np.arange(len(test)))["target"]
    a3 = LiftingData(r, test, maps=False).batch(np.arange(len(test)))["target"]
    root = want_test[:, 14:15]
    np.testing.assert_allclose(univ, (want_test - root) / 1000.0, atol=1e-5)
    assert not np.allclose(univ, a3)


def test_univ_target_needs_the_array(tmp_path):
    build_store(tmp_path / "h.zarr", with_maps=False)
    r = Reader(tmp_path / "h.zarr")
    with pytest.raises(StoreError, match="no 3D target rows/pose3d_univ.*--target annot3"):
        LiftingData(r, split_rows(r, "test"), maps=False, target="pose3d_univ")


@pytest.mark.e2e  # the installed console script in a subprocess
def test_h36m_trained_run_evaluates_on_a_3dhp_store(raw_and_store, tmp_path):
    _, path3 = raw_and_store
    h36m = tmp_path / "h36m.zarr"
    build_store(h36m, with_maps=False)
    out = tmp_path / "run"
    train(TrainConfig("poseformer", str(h36m), str(out), batch_size=4, max_steps=2, workers=0,
                      model_cfg={"dim": 16, "depth": 1, "heads": 2}), progress=False)
    rep = evaluate_run(out, cache=path3, dataset="3dhp", save_predictions=True)
    x = rep["cross_dataset"]
    assert (rep["dataset"], rep["protocol"], rep["2d_source"], rep["target"]) == ("3dhp", "3dhp", "GT 2D",
                                                                                 "pose3d_univ")
    assert x["trained_on"] == "h36m" and x["joint_map"] == "mpi17 -> h36m17"
    assert x["pck_joints"] == ["RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Thorax", "Head", "LShoulder",
                               "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist"]  # the official 14, H36M order
    h = rep["metrics"]["3DHP"]
    assert 0 <= h["PCK150_14"] <= 100 and 0 <= h["AUC_14"] <= h["PCK150_14"] and rep["rows"] == 2
    with h5py.File(raw_and_store[0] / "TS5/annot_data.mat", "r") as f:
        univ = convert(np.asarray(f["univ_annot3"]).reshape(-1, 17, 3), "mpi17", "h36m17")
    p = np.load(out / "predictions.npz")
    np.testing.assert_allclose(p["gt_mm"], univ - univ[:, :1], atol=1e-2)  # mapped, Hip (= pelvis) root
    res = CliRunner().invoke(app, ["evaluate", str(out), "--cache", str(path3), "--dataset", "3dhp", "--target",
                                   "annot3"])
    assert res.exit_code == 0, res.output
    assert "cross-dataset: trained on h36m, joints mapped mpi17 -> h36m17" in res.output and "PCK@150" in res.output
    assert json.loads((out / "metrics.json").read_text())["target"] == "pose3d_cam"
