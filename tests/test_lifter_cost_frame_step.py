"""MPJVE's step on a store extracted with a frame stride (source frames between consecutive rows), and the
cost `pipeline train --dry-run` prints (`lifters.flops.run_cost`: trainable and frozen parameters, FLOPs)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from lifters import metrics as M
from lifters.checkpoint import save_checkpoint
from lifters.config import TrainConfig
from lifters.evaluate import evaluate_run
from lifters.flops import run_cost
from lifters.models.plt import PLT
from lifters.train import Trainer, train
from tests.conftest import SMALL_LEVELS, build_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY_PF = {"dim": 16, "depth": 1, "heads": 2}
TINY_PLT = {"dim": 16, "heads": 2}


@pytest.mark.parametrize("run_stride,step,pairs", [(1, 2, 4), (2, 4, 2)])
def test_mpjve_step_is_store_stride_times_run_stride(tmp_path, run_stride, step, pairs):
    """Store rows keep every 2nd source frame (frames 0, 2, 4, ...): consecutive test rows are a velocity pair
    (step 2), and with --test-stride 4 (source frames) every 2nd row (step 4). Before, step = the run's stride
    alone found no
    pairs at all on such a store."""
    build_store(tmp_path / "s.zarr", with_maps=False, frame_stride=2)  # test split: one S9 clip of 5 rows
    out = tmp_path / "run"
    train(TrainConfig(model="poseformer", cache=str(tmp_path / "s.zarr"), out=str(out), batch_size=4, max_steps=1,
                      workers=0, train_stride=2 * run_stride, test_stride=2 * run_stride,
                      model_cfg=TINY_PF), progress=False)
    rep = evaluate_run(out, save_predictions=True)
    assert rep["frame_step"] == step and rep["test_stride"] == run_stride
    p = np.load(out / "predictions.npz")
    assert np.array_equal(np.diff(p["frame"]), np.full(pairs, step))
    aligned = p["pred_mm"] - p["pred_mm"][:, :1]
    mv = rep["metrics"]["MPJVE"]
    assert mv["pairs"] == pairs and mv["label"].startswith(f"MPJVE (mm per step of {step} frame(s))")
    assert mv["mean_over_frames"] == pytest.approx(M.mpjve(aligned, p["gt_mm"]), rel=1e-9)
    res = CliRunner().invoke(app, ["evaluate", str(out)])
    assert res.exit_code == 0, res.output
    assert f"MPJVE (mm/{step} frame)" in res.output


def test_dry_run_counts_trainable_and_frozen_parameters(tmp_path):
    """plt stage 2 on an (untrained) stage-1 checkpoint: trainable = the refinement, frozen = the coarse stage."""
    store = tmp_path / "s.zarr"
    build_store(store)
    levels = {lv: shape[0] for lv, shape in SMALL_LEVELS.items()}
    coarse = PLT(levels=levels, **TINY_PLT)
    path = tmp_path / "coarse.pt"
    save_checkpoint(path, {"model": "plt", "model_cfg": {"levels": levels, **TINY_PLT},
                           "weights": coarse.state_dict()})
    stage2 = PLT(levels=levels, **TINY_PLT, stage=2, coarse=str(path))
    frozen = sum(p.numel() for p in coarse.parameters())
    trainable = sum(p.numel() for n, p in stage2.named_parameters() if not n.startswith("coarse."))
    cfg = {**TINY_PLT, "stage": 2, "coarse": str(path)}
    cost = run_cost(Trainer(TrainConfig(model="plt", cache=str(store), out=str(tmp_path / "x"), workers=0,
                                        model_cfg=cfg), progress=False))
    assert (cost["params"], cost["params_total"]) == (trainable, trainable + frozen)
    assert cost["flops"] > 0
    res = CliRunner().invoke(app, ["train", "plt", "--recipe", "quick", "--cache", str(store), "--out",
                                   str(tmp_path / "d"),
                                   "--dry-run",
                                   "--model-cfg", json.dumps(cfg)])
    assert res.exit_code == 0, res.output
    assert f"{trainable:,} trainable (+{frozen:,} frozen)" in res.output
    assert f"{cost['flops'] / 1e9:.3f} G" in res.output
