"""plt (Lifting by Image) and cdl (Cascaded Dimension-Lifting) on cached maps: the pure pieces against
hand-computed values, the frozen coarse stage, tiny overfits, and `pipeline train` / `evaluate` / `--dry-run` end
to end on a real extracted store, with the bad inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from lifters.config import TrainConfig
from lifters.data import LiftingData, open_reader, split_rows, to_torch
from lifters.models.cdl import CascadedDimensionLifting
from lifters.models.heatmaps import (
    bone_heatmaps,
    depth_to_bin,
    depth_volume,
    gaussian_heatmaps,
    geodesic,
    neck_knee_paths,
    ordinal_targets,
    soft_argmax_2d,
    tree_path,
)
from lifters.models.plt import PLT, select_tokens
from lifters.train import train
from schemas.errors import InputError, StoreError
from schemas.joints import H36M_17
from tests._lifter_store import real_store
from tests.conftest import build_store

TINY_PLT = {"dim": 16, "heads": 2}
TINY_CDL = {"width": 8, "depth_bins": 8, "hidden": 64, "blocks": 1, "dropout": 0.0}
LEVELS = {"s4": 32, "s8": 64, "s16": 128, "s32": 256}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return real_store(tmp_path_factory)


@pytest.fixture(scope="module")
def rows(store):
    """The 8 train rows of the real store as one torch batch (maps float16, W32 sizes)."""
    reader = open_reader(store, need_maps=True)
    data = LiftingData(reader, split_rows(reader, "train"), maps=True)
    return to_torch(data.batch(np.arange(len(data))))


def fake_maps(b: int, hw=(8, 6)) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {k: torch.randn(b, c, hw[0] * 4 // (1 + (k != "s4")), hw[1] * 4 // (1 + (k != "s4")), generator=g)
            for k, c in LEVELS.items()}


# ---------- pure pieces ----------

def test_select_tokens_keeps_ceil_ratio_highest():
    tokens = torch.arange(2 * 10 * 3, dtype=torch.float32).view(2, 10, 3)
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.8, 0.0, 0.2, 0.7, 0.4, 0.5, 0.6],
                           [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.95, 0.9]])
    kept, idx = select_tokens(tokens, scores, 0.3)
    assert kept.shape == (2, 3, 3)  # ceil(0.3 * 10) = 3
    assert idx.tolist() == [[1, 3, 6], [0, 8, 9]]
    torch.testing.assert_close(kept[0], tokens[0, [1, 3, 6]])
    kept, idx = select_tokens(tokens[:, :7], scores[:, :7], 0.3)
    assert kept.shape[1] == 3 == math.ceil(0.3 * 7)
    with pytest.raises(InputError, match="keep_ratio"):
        select_tokens(tokens, scores, 0.0)


def test_soft_argmax_of_a_peak_is_its_pixel():
    logits = torch.zeros(1, 2, 9, 7)
    logits[0, 0, 2, 5] = 60.0  # row 2, column 5
    logits[0, 1, 8, 0] = 60.0
    xy, probs = soft_argmax_2d(logits)
    torch.testing.assert_close(xy[0], torch.tensor([[-1 + 2 * 5 / 6, -1 + 2 * 2 / 8], [-1.0, 1.0]]), atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(probs.sum((2, 3)), torch.ones(1, 2))
    # a symmetric blob between two pixels -> the midpoint
    logits = torch.zeros(1, 1, 5, 5)
    logits[0, 0, 1, 1] = logits[0, 0, 1, 2] = 60.0
    xy, _ = soft_argmax_2d(logits)
    torch.testing.assert_close(xy[0, 0], torch.tensor([-0.25, -0.5]), atol=1e-5, rtol=0)


def test_heatmap_targets_hand_values():
    pts = torch.tensor([[[-1.0, -1.0], [1.0, 1.0], [0.0, -1.0]]])  # pixels (0,0), (6,4), (3,0) on a 5 x 7 map
    hm = gaussian_heatmaps(pts, 5, 7, sigma_px=2.0)
    assert hm.shape == (1, 3, 5, 7) and hm[0, 0, 0, 0] == 1.0 and hm[0, 1, 4, 6] == 1.0
    assert hm[0, 0, 1, 2].item() == pytest.approx(math.exp(-5 / 8))  # r^2 = 1 + 4
    bones = bone_heatmaps(pts, [(0, 1), (0, 2)], 5, 7, sigma_px=2.0)
    assert bones.shape == (1, 2, 5, 7)
    assert bones[0, 1, 0, 2].item() == pytest.approx(1.0)  # on the segment (0,0) -> (3,0)
    assert bones[0, 1, 2, 1].item() == pytest.approx(math.exp(-4 / 8))  # 2 px below it
    assert bones[0, 1, 0, 5].item() == pytest.approx(math.exp(-4 / 8))  # 2 px past the child end
    cont, idx = depth_to_bin(torch.tensor([-1.0, 0.0, 0.26, 1.0, 3.0]), 1.0, 8)
    assert cont.tolist() == pytest.approx([0.0, 4.0, 5.04, 8.0, 8.0]) and idx.tolist() == [0, 4, 5, 7, 7]
    vol = depth_volume(hm, torch.tensor([[1, 3, 1]]), 4)
    assert vol.shape == (1, 4, 5, 7) and vol[0, 0].abs().sum() == 0 and vol[0, 2].abs().sum() == 0
    torch.testing.assert_close(vol[0, 3], hm[0, 1])
    torch.testing.assert_close(vol[0, 1], torch.maximum(hm[0, 0], hm[0, 2]))
    assert ordinal_targets(torch.tensor([0, 2]), 4).tolist() == [[0, 0, 0], [1, 1, 0]]


def test_neck_knee_geodesic_h36m17():
    assert tree_path(H36M_17.parents, 8, 2) == [(7, 8), (0, 7), (0, 1), (1, 2)]
    pose = torch.zeros(1, 17, 3)
    pose[0, 7] = torch.tensor([0.0, -0.2, 0.0])  # spine 0.2
    pose[0, 8] = torch.tensor([0.0, -0.5, 0.0])  # thorax 0.3 above
    pose[0, 1] = torch.tensor([-0.1, 0.0, 0.0])  # right hip 0.1
    pose[0, 4] = torch.tensor([0.12, 0.0, 0.0])  # left hip 0.12
    pose[0, 2] = torch.tensor([-0.1, 0.4, 0.0])  # right knee 0.4 below
    pose[0, 5] = torch.tensor([0.12, 0.44, 0.0])  # left knee 0.44 below
    g = geodesic(pose, neck_knee_paths(H36M_17))
    assert g.item() == pytest.approx(((0.3 + 0.2 + 0.1 + 0.4) + (0.3 + 0.2 + 0.12 + 0.44)) / 2)


# ---------- models ----------

def test_shapes_and_bad_options():
    maps, kp = fake_maps(3), torch.randn(3, 17, 2)
    plt = PLT(levels=LEVELS, **TINY_PLT)
    assert plt(kp, None, maps).shape == (3, 17, 3)
    fmap = maps["s8"].float()
    _, tj, ti, scores = plt.coarse(kp, fmap)
    assert ti.shape == (3, 16 * 12, 16) and scores.shape == (3, 192)
    assert select_tokens(ti, scores, 0.3)[0].shape == (3, math.ceil(0.3 * 192), 16)
    cdl = CascadedDimensionLifting(levels=LEVELS, **TINY_CDL)
    out = cdl.heads(maps["s4"])
    assert out["pose"].shape == (3, 17, 3) and out["joint"].shape == (3, 17, 32, 24)
    assert out["bone"].shape == (3, 16, 32, 24) and out["volume"].shape == (3, 8, 32, 24)
    assert out["uv"].abs().max() <= 1 and out["z"].abs().max() <= 1.0
    cdl.train()
    assert cdl(kp[:1], None, {"s4": maps["s4"][:1]}).shape == (1, 17, 3)  # a batch of one trains (BN)
    with pytest.raises(InputError, match=r"level 's64' is not in the store's backbone maps \(levels: s4, s8"):
        PLT(levels=LEVELS, level="s64")
    with pytest.raises(InputError, match=r"stage 2 needs the stage-1 run"):
        PLT(levels=LEVELS, stage=2)
    with pytest.raises(InputError, match=r"joint_set 'mpi17' does not have 21 joints"):
        CascadedDimensionLifting(num_joints=21, joint_set="mpi17")
    with pytest.raises(InputError, match=r"feature maps lack level 's8'"):
        plt(kp, None, {"s4": maps["s4"]})


def overfit(model, batch, steps: int, lr: float) -> tuple[float, float]:
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        loss = model.loss_batch(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses[0], losses[-1]


def test_tiny_models_overfit_a_few_rows(rows):
    torch.manual_seed(0)
    first, last = overfit(PLT(levels=LEVELS, **TINY_PLT), rows, 20, 3e-3)
    assert last < 0.5 * first
    torch.manual_seed(0)
    cdl = CascadedDimensionLifting(levels=LEVELS, **TINY_CDL)
    first, last = overfit(cdl, rows, 20, 3e-3)
    assert last < 0.5 * first
    assert cdl.geo_count == 20 * 8  # the running neck->knee reference saw every training target


# ---------- trainer and CLI ----------

def cfg(store, out, model, **kw) -> TrainConfig:
    base = dict(batch_size=4, workers=0, eval_every=2, max_steps=2)
    return TrainConfig(model=model, cache=str(store), out=str(out), **{**base, **kw})


def test_plt_stage_two_freezes_the_coarse_stage(store, tmp_path):
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    train(cfg(store, s1, "plt", model_cfg=dict(TINY_PLT)), progress=False)
    train(cfg(store, s2, "plt", model_cfg={**TINY_PLT, "stage": 2, "coarse": str(s1 / "last.pt")}), progress=False)
    w1 = torch.load(s1 / "last.pt", weights_only=True)["weights"]
    ck2 = torch.load(s2 / "last.pt", weights_only=True)
    w2 = ck2["weights"]
    coarse = [k for k in w1 if k.startswith("coarse.")]
    assert coarse and all(torch.equal(w1[k], w2[k]) for k in coarse)  # unchanged after 2 steps
    assert any(k.startswith("refine.") for k in w2)
    model_init = PLT(levels=LEVELS, **TINY_PLT, stage=2, coarse=str(s1))  # a run dir means its best.pt
    changed = [k for k in w2 if k.startswith("refine") and not torch.equal(model_init.state_dict()[k], w2[k])]
    assert changed  # ... while the refinement trained
    assert all(g["params"] for g in ck2["optimizer"]["param_groups"])
    n_opt = sum(len(g["params"]) for g in ck2["optimizer"]["param_groups"])
    assert n_opt == sum(1 for k in w2 if k.startswith("refine"))  # only refinement parameters are optimised
    with pytest.raises(InputError, match=r"trained with other options \(saved, given\): \{'dim': \(16, 32\)"):
        PLT(levels=LEVELS, dim=32, heads=2, stage=2, coarse=str(s1 / "last.pt"))
    with pytest.raises(InputError, match=r"is a stage-2 checkpoint"):
        PLT(levels=LEVELS, **TINY_PLT, stage=2, coarse=str(s2 / "last.pt"))
    with pytest.raises(InputError, match=r"coarse checkpoint .*nope.pt does not exist"):
        PLT(levels=LEVELS, **TINY_PLT, stage=2, coarse=str(tmp_path / "nope.pt"))


@pytest.mark.e2e  # the installed console script in a subprocess
@pytest.mark.parametrize("model,mcfg,flops", [("plt", TINY_PLT, "FLOPs / sample"), ("cdl", TINY_CDL, "FLOPs")])
def test_cli_train_evaluate_dry_run(store, tmp_path, model, mcfg, flops):
    runner = CliRunner()
    out = tmp_path / model
    args = ["train", model, "--recipe", "quick", "--cache", str(store), "--out", str(out), "--max-steps", "3",
            "--batch-size", "4",
            "--workers", "0", "--eval-every", "3", "--model-cfg", json.dumps(mcfg)]
    res = runner.invoke(app, args + ["--dry-run"])
    assert res.exit_code == 0, res.output
    assert "parameters" in res.output and flops in res.output and "train 8, test 8" in res.output
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["evaluate", str(out)])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "metrics.json").read_text())
    assert rep["model"] == model and rep["rows"] == 8 and rep["step"] == 3
    assert np.isfinite(rep["metrics"]["P1"]["mean_over_frames"]) and rep["metrics"]["P1"]["mean_over_frames"] > 0


def test_cli_bad_input(store, tmp_path):
    runner = CliRunner()
    nomaps = tmp_path / "nomaps.zarr"
    build_store(nomaps, with_maps=False)
    res = runner.invoke(app, ["train", "plt", "--cache", str(nomaps), "--out", str(tmp_path / "a")])
    assert isinstance(res.exception, StoreError)
    assert "needs backbone feature maps; backbones in the store: none" in str(res.exception)
    res = runner.invoke(app, ["train", "plt-x", "--cache", str(store), "--out", str(tmp_path / "b")])
    assert isinstance(res.exception, InputError)
    assert all(m in str(res.exception) for m in ("valid models:", "capf", "cdl", "plt", "poseformer"))
    res = runner.invoke(app, ["train", "plt", "--cache", str(store), "--out", str(tmp_path / "c"),
                              "--model-cfg", '{"level": "s2"}'])
    assert isinstance(res.exception, InputError)
    assert "map level 's2' is not in the store's backbone maps (levels: s4, s8, s16, s32)" in str(res.exception)
    assert not (tmp_path / "c").exists()


def test_cdl_pose_loss_reaches_the_2p5d_heads_only_end_to_end(rows):
    """Sequential training (default): the lifter's pose loss leaves the 2.5D heads alone; end_to_end lets it in."""
    pose_only = {"heatmap": 0.0, "volume": 0.0, "ordinal": 0.0, "uv": 0.0}
    for end_to_end in (False, True):
        torch.manual_seed(0)
        cdl = CascadedDimensionLifting(levels=LEVELS, **TINY_CDL, loss_weights=pose_only, end_to_end=end_to_end)
        cdl.loss_batch(rows).backward()
        head = cdl.final_head[1].weight.grad
        assert cdl.lifter.out.weight.grad.abs().sum() > 0
        assert (head is not None and head.abs().sum() > 0) == end_to_end


def test_cdl_init_then_end_to_end_fine_tuning(store, tmp_path):
    s1, s2, p = tmp_path / "s1", tmp_path / "s2", tmp_path / "p"
    train(cfg(store, s1, "cdl", model_cfg=dict(TINY_CDL)), progress=False)
    w1 = torch.load(s1 / "last.pt", weights_only=True)["weights"]
    started = CascadedDimensionLifting(levels=LEVELS, **TINY_CDL, init=str(s1 / "last.pt")).state_dict()
    assert all(torch.equal(started[k], w1[k]) for k in w1)  # weights and the running neck->knee reference
    assert float(w1["geo_count"]) > 0
    train(cfg(store, s2, "cdl", model_cfg={**TINY_CDL, "init": str(s1 / "last.pt"), "end_to_end": True}),
          progress=False)
    w2 = torch.load(s2 / "last.pt", weights_only=True)["weights"]
    assert not torch.equal(w2["final_head.1.weight"], w1["final_head.1.weight"])  # the heads fine-tuned
    assert float(w2["geo_count"]) > float(w1["geo_count"])  # the reference kept counting from stage 1
    with pytest.raises(InputError, match=r"cdl init: checkpoint .*nope.pt does not exist"):
        CascadedDimensionLifting(levels=LEVELS, **TINY_CDL, init=str(tmp_path / "nope.pt"))
    with pytest.raises(InputError, match=r"weights do not fit model 'cdl'"):
        CascadedDimensionLifting(levels=LEVELS, **{**TINY_CDL, "width": 4}, init=str(s1 / "last.pt"))
    train(cfg(store, p, "plt", model_cfg=dict(TINY_PLT)), progress=False)
    with pytest.raises(InputError, match=r"checkpoint of model 'plt', not 'cdl'"):
        CascadedDimensionLifting(levels=LEVELS, **TINY_CDL, init=str(p / "last.pt"))


def test_one_level_models_read_only_their_level(store, tmp_path):
    """plt and cdl read one map level: the trainer's data (train and test) read only that one; capf reads all."""
    from lifters.train import Trainer

    for model, mcfg, want in (("plt", TINY_PLT, ["s8"]), ("cdl", {**TINY_CDL, "level": "s16"}, ["s16"]),
                              ("capf", {"dim": 16, "depth": 1, "heads": 2}, list(LEVELS))):
        t = Trainer(cfg(store, tmp_path / model, model, model_cfg=mcfg), progress=False)
        assert t.train_data.levels == want and t.test_data.levels == want
        batch = t.train_data.batch(np.arange(2), flip=np.array([False, True]))  # mixed flips: the per-flip path
        assert sorted(batch["maps"]) == sorted(want)
