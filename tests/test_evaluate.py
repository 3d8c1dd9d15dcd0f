"""lifters.evaluate: metrics.json fields and values against lifters.metrics on the same predictions, flip-test,
MPJVE runs, 3DHP PCK/AUC, a changed store, bad checkpoints, and the `pipeline evaluate` CLI."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from lifters import metrics as M
from lifters.checkpoint import StoreChangedWarning
from lifters.config import TrainConfig
from lifters.data import LiftingData, to_torch
from lifters.evaluate import compute_metrics, evaluate_run, mpjve_runs
from lifters.flip import unflip_pose_3d
from lifters.models.registry import build_model
from lifters.train import train
from schemas.camera import Camera
from schemas.errors import InputError, StoreError
from schemas.joints import H36M_17
from storage.reader import Reader
from storage.store import Store
from tests._cli import PIPELINE
from tests._lifter_store import real_store
from tests.conftest import build_store

TINY = {"dim": 32, "depth": 1, "heads": 4}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A capf run of 4 steps on the real 16-row store (test split: S9, 4 clips x 2 consecutive frames)."""
    store = real_store(tmp_path_factory)
    out = tmp_path_factory.mktemp("eval") / "run"
    train(TrainConfig(model="capf", cache=str(store), out=str(out), batch_size=4, max_steps=4, eval_every=2,
                      workers=0, model_cfg=dict(TINY)), progress=False)
    return out, store


def _model_predict(out, store, flip: bool, which: str = "best") -> tuple[np.ndarray, np.ndarray]:
    """Independent forward pass of a run's checkpoint over all test rows -> (pred, target) mm."""
    ck = torch.load(out / f"{which}.pt", weights_only=True)
    model = build_model(ck["model"], **ck["model_cfg"])
    model.load_state_dict(ck["weights"])
    model.eval()
    r = Reader(store)
    data = LiftingData(r, r.rows(split="test"), maps=True)
    b = to_torch(data.batch(np.arange(len(data)), np.full(len(data), flip)))
    with torch.no_grad():
        return model(b["kp2d"], b["ref"], b["maps"]).numpy() * 1000.0, b["target"].numpy() * 1000.0


@pytest.mark.e2e  # its run trains on a store extracted with a full-size mmpose backbone
def test_metrics_json_matches_lifters_metrics(run):
    out, store = run
    rep = evaluate_run(out, save_predictions=True)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(rep))
    assert (rep["checkpoint"], rep["model"], rep["split"], rep["rows"], rep["dataset"]) == \
        ("best.pt", "capf", "test", 8, "h36m")
    assert rep["fingerprint"]["match"] is True and rep["fingerprint"]["store"] == rep["fingerprint"]["checkpoint"]
    p = np.load(out / "predictions.npz")
    pred, gt = _model_predict(out, store, flip=False)
    np.testing.assert_allclose(p["pred_mm"], pred, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(p["gt_mm"], gt, atol=1e-3)
    aligned = p["pred_mm"] - p["pred_mm"][:, :1]
    m = rep["metrics"]
    for name, fn in (("P1", M.mpjpe), ("P2", M.p_mpjpe), ("N-MPJPE", M.n_mpjpe)):
        assert m[name]["label"]
        assert m[name]["mean_over_frames"] == pytest.approx(fn(aligned, p["gt_mm"]), rel=1e-9)
        assert m[name]["per_action"] == {"Directions": pytest.approx(fn(aligned, p["gt_mm"]), rel=1e-9)}
        assert m[name]["mean_over_actions"] == pytest.approx(m[name]["mean_over_frames"])
    assert 0 < m["P2"]["mean_over_frames"] < m["P1"]["mean_over_frames"]
    # MPJVE: 4 test clips of 2 consecutive frames -> one velocity pair each
    clips = np.unique(p["clip"])
    assert len(clips) == 4 and m["MPJVE"]["pairs"] == 4
    per_clip = [M.mpjve(aligned[p["clip"] == c], p["gt_mm"][p["clip"] == c]) for c in clips]
    assert m["MPJVE"]["mean_over_frames"] == pytest.approx(np.mean(per_clip), rel=1e-9)
    assert "3DHP" not in m


@pytest.mark.e2e  # its run trains on a store extracted with a full-size mmpose backbone
def test_flip_test_averages_with_the_unflipped_prediction_of_the_flipped_input(run):
    out, store = run
    rep = evaluate_run(out, flip_test=True, which="last", save_predictions=True)
    assert rep["flip_test"] is True and rep["checkpoint"] == "last.pt"
    p = np.load(out / "predictions.npz")
    plain, _ = _model_predict(out, store, flip=False, which="last")
    flipped, _ = _model_predict(out, store, flip=True, which="last")
    unflipped = unflip_pose_3d(torch.from_numpy(flipped), H36M_17.flip_permutation()).numpy()
    np.testing.assert_allclose(p["pred_mm"], (plain + unflipped) / 2, rtol=1e-5, atol=1e-3)
    assert not np.allclose(p["pred_mm"], plain, atol=1e-2)


def test_mpjve_runs_split_at_gaps_and_clips():
    gt = np.zeros((6, 1, 3))
    pred = np.array([[0, 0, 0], [3, 4, 0], [3, 4, 0], [0, 0, 0], [0, 0, 6], [9, 9, 9]], float)[:, None]
    clip = np.array([0, 0, 0, 1, 1, 1])
    frame = np.array([0, 5, 10, 0, 5, 20])  # stride 5; clip 1 frame 20 starts a new (single-row) run
    runs = mpjve_runs(pred, gt, clip, frame, stride=5)
    assert runs == [(0, 2, pytest.approx(2.5)), (1, 1, pytest.approx(6.0))]
    order = np.array([2, 0, 1, 5, 4, 3])  # any input order
    assert mpjve_runs(pred[order], gt[order], clip[order], frame[order], 5) == runs
    # through compute_metrics: a root joint (0, error 0) is prepended, so each value halves
    pred2, gt2 = np.concatenate([np.zeros_like(pred), pred], 1), np.zeros((6, 2, 3))
    m = compute_metrics(pred2, gt2, clip, frame, ["Walk", "Eat"], "h36m", "h36m17", 0, 5)
    assert m["MPJVE"]["per_action"] == {"Eat": pytest.approx(3.0), "Walk": pytest.approx(1.25)}
    assert m["MPJVE"]["mean_over_frames"] == pytest.approx((2 * 1.25 + 3.0) / 3)
    assert m["MPJVE"]["mean_over_actions"] == pytest.approx((1.25 + 3.0) / 2)
    assert m["MPJVE"]["pairs"] == 3


def test_3dhp_pck_auc_official_14_and_all_joints():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 300, (20, 17, 3))
    pred = gt + rng.normal(0, 80, gt.shape)
    for js, root, j14 in (("mpi17", 14, M.MPI_PCK_14_JOINTS), ("h36m17", 0, M.H36M_PCK_14_JOINTS)):
        gt_r = gt - gt[:, root:root + 1]
        m = compute_metrics(pred, gt_r, np.zeros(20, int), np.arange(20), ["TS1"], "3dhp", js, root, 1)["3DHP"]
        aligned = pred - pred[:, root:root + 1]
        assert m["PCK150_14"] == pytest.approx(M.pck(aligned, gt_r, 150.0, joints=j14))
        assert m["AUC_14"] == pytest.approx(M.auc(aligned, gt_r, joints=j14))
        assert m["PCK150_all"] == pytest.approx(M.pck(aligned, gt_r, 150.0))
        assert m["AUC_all"] == pytest.approx(M.auc(aligned, gt_r))
        assert m["joints_14"] == list(j14) and root not in m["joints_14"]
        assert 0 < m["AUC_14"] < m["PCK150_14"] < 100


def test_changed_store_warns_and_is_recorded(tmp_path):
    path = tmp_path / "s.zarr"
    build_store(path)
    out = tmp_path / "run"
    train(TrainConfig(model="poseformer", cache=str(path), out=str(out), batch_size=4, max_steps=2, workers=0,
                      model_cfg=dict(TINY)), progress=False)
    cam = Camera(f=[1000.0, 1000.0], c=[500.0, 500.0], t_w2c=[0, 0, 5000.0], id="x")
    Store.open(path, mode="r+").dataset("h36m").allocate(
        [dict(subject="S11", action="Eating", subaction="1", camera="x", source="v.mp4")], [3], [[cam]])
    with pytest.warns(StoreChangedWarning, match=r"changed since .*best.pt was trained: checkpoint store "
                                                  r"fingerprint [0-9a-f]{16}, store now [0-9a-f]{16}"):
        rep = evaluate_run(out)
    assert rep["fingerprint"]["match"] is False and rep["fingerprint"]["store"] != rep["fingerprint"]["checkpoint"]


@pytest.mark.e2e  # the installed console script in a subprocess
def test_bad_run_dirs_and_checkpoints(run, tmp_path):
    out, store = run
    with pytest.raises(InputError, match=r"no best.pt \(found: nothing\); train with"):
        evaluate_run(tmp_path / "nothing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"cannot load as a lifter checkpoint"):
        evaluate_run(bad)
    torch.save({"weights": {}}, bad / "best.pt")
    with pytest.raises(InputError, match=r"is not a ctxpose-lifter-checkpoint file"):
        evaluate_run(bad)
    # poseformer weights under a capf label: another model's checkpoint
    pf = tmp_path / "pf"
    train(TrainConfig(model="poseformer", cache=str(store), out=str(pf), batch_size=4, max_steps=1, workers=0,
                      model_cfg=dict(TINY)), progress=False)
    ck = torch.load(pf / "best.pt", weights_only=True)
    capf = torch.load(out / "best.pt", weights_only=True)
    ck["model"], ck["model_cfg"] = "capf", capf["model_cfg"]
    torch.save(ck, pf / "best.pt")
    with pytest.raises(InputError, match=r"weights do not fit model 'capf'.*missing: .*unexpected: .*another model"):
        evaluate_run(pf)
    with pytest.raises(InputError, match="'best' or 'last'"):
        evaluate_run(out, which="first")


def test_flip_test_needs_flipped_maps(tmp_path):
    path = tmp_path / "s.zarr"
    build_store(path)
    out = tmp_path / "run"
    train(TrainConfig(model="capf", cache=str(path), out=str(out), batch_size=4, max_steps=1, workers=0,
                      model_cfg=dict(TINY)), progress=False)
    with pytest.raises(StoreError, match=r"--flip-test needs the maps of flipped crops.*pipeline extract --flip"):
        evaluate_run(out, flip_test=True)


@pytest.mark.e2e  # the installed console script in a subprocess
def test_cli_evaluate_prints_and_writes_metrics(run):
    out, _ = run
    (out / "metrics.json").unlink(missing_ok=True)
    r = subprocess.run([PIPELINE, "evaluate", str(out), "--checkpoint", "last"],
                       capture_output=True, text=True, timeout=120,
                       env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "metrics.json").read_text())
    p1 = rep["metrics"]["P1"]["mean_over_frames"]
    assert "P1 MPJPE (mm)" in r.stdout and f"{p1:.2f}" in r.stdout and "MPJVE (mm/1 frame)" in r.stdout
