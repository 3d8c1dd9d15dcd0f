"""The papers' recipes as data (golden values, citing the papers), `--recipe quick` and flag overrides, the lr
schedules at chosen epochs, split protocols (golden row counts), strides and the protocol's 2D source."""

from __future__ import annotations

import numpy as np
import pytest

from lifters.config import TrainConfig, resolve_config
from lifters.data import split_rows
from lifters.protocol import paper_keypoints, row_stride
from lifters.recipes import QUICK, RECIPES, get_recipe
from lifters.schedule import LrSchedule
from lifters.train import Trainer
from schemas.crop_coords import DEFAULT_CROP_HW, image_to_ref
from schemas.errors import InputError, StoreError
from storage.reader import Reader
from storage.store import Store
from tests.conftest import build_store

TINY_PF = {"dim": 16, "depth": 1, "heads": 2}


def test_each_recipe_is_its_papers():
    """Golden values from the papers (../shared/papers): CA-PF App. B, ST Sec. 4.2, PLT 'Implementation Details'
    and 'Datasets', CDL 'Implementation Details' and 'Datasets'."""
    capf = RECIPES["capf"]  # CA-PF App. B: AdamW, 50 epochs, batch 512, lr 6.4e-3, decay 0.99; App. E: offsets 0.1x
    assert (capf.optimizer, capf.lr, capf.batch_size, capf.epochs, capf.schedule.gamma, capf.offset_lr_scale) == \
        ("adamw", 6.4e-3, 512, 50, 0.99, 0.1)
    assert capf.keypoints == "paper" and capf.flip_test and capf.frames == 1
    st = RECIPES["strided"]  # ST Sec. 4.2: Adam 1e-3, x0.95/epoch, x0.5 every 5 epochs, batch 256, flip train+test
    assert (st.optimizer, st.lr, st.batch_size, st.frames, st.flip_aug, st.flip_test) == \
        ("adam", 1e-3, 256, 243, True, True)
    assert (st.schedule.gamma, st.schedule.step_every, st.schedule.step_factor) == (0.95, 5, 0.5)
    plt = RECIPES["plt"]  # PLT: Adam 1e-3, x0.9 every 4 epochs, batch 128; H36M 50 -> 5 fps for training
    assert (plt.optimizer, plt.lr, plt.batch_size, plt.schedule.step_every, plt.schedule.step_factor) == \
        ("adam", 1e-3, 128, 4, 0.9)
    assert (plt.train_stride, plt.test_stride, plt.flip_aug) == (10, 1, False)
    cdl = RECIPES["cdl"]  # CDL: Adam 1e-3, 20 epochs, batch 64, /10 at the 17th epoch; every 5th / 64th frame
    assert (cdl.optimizer, cdl.lr, cdl.batch_size, cdl.epochs, cdl.schedule.milestones, cdl.schedule.step_factor) == \
        ("adam", 1e-3, 64, 20, (16,), 0.1)
    assert (cdl.train_stride, cdl.test_stride) == (5, 64)
    assert RECIPES["capf-s"].frames == 27 and RECIPES["capf-s"].lr == 6.4e-3  # CA-PF App. C Table 6
    assert RECIPES["poseformer"].flip_aug and RECIPES["poseformer"].flip_test  # 2D flips need no maps
    for name, r in RECIPES.items():
        assert {"optimizer", "lr", "schedule", "batch_size", "keypoints"} <= set(r.cites), name
    assert (QUICK.optimizer, QUICK.lr, QUICK.batch_size, QUICK.epochs, QUICK.schedule.gamma, QUICK.keypoints) == \
        ("adamw", 6.4e-4, 64, 20, 0.99, "gt")


@pytest.mark.parametrize("model,epochs_factors", [
    ("capf", {0: 1.0, 1: 0.99, 10: 0.99 ** 10, 49: 0.99 ** 49}),
    # the official ST code: x0.5 instead of x0.95 on every 5th epoch boundary
    ("strided", {1: 0.95, 4: 0.95 ** 4, 5: 0.95 ** 4 * 0.5, 6: 0.95 ** 5 * 0.5, 10: 0.95 ** 8 * 0.25}),
    ("plt", {3: 1.0, 4: 0.9, 7: 0.9, 8: 0.81, 19: 0.9 ** 4}),
    ("cdl", {0: 1.0, 15: 1.0, 16: 0.1, 19: 0.1}),
])
def test_schedules_give_the_papers_lr(model, epochs_factors):
    r = RECIPES[model]
    for epoch, factor in epochs_factors.items():
        assert r.lr * r.schedule.factor(epoch) == pytest.approx(r.lr * factor, rel=1e-12), (model, epoch)


def test_schedule_variants_and_bad_values():
    both = LrSchedule(gamma=0.95, step_every=5, step_factor=0.5)  # the paper's text read as 'both'
    assert both.factor(5) == pytest.approx(0.95 ** 5 * 0.5)
    warm = LrSchedule(gamma=0.5, warmup_epochs=2)
    assert [warm.factor(e) for e in range(4)] == pytest.approx([1 / 3, 2 / 3, 1.0, 0.5])
    assert LrSchedule.from_dict(both.as_dict()) == both
    assert "x0.5 every 5 epochs (instead of x0.95)" in RECIPES["strided"].schedule.describe()
    with pytest.raises(InputError, match="gamma and step factor"):
        LrSchedule(gamma=1.5)


def test_recipe_resolution_recipe_then_flags():
    cfg = resolve_config("capf", "paper", {"cache": "s", "out": "o"})
    assert (cfg.recipe, cfg.lr, cfg.batch_size, cfg.epochs, cfg.keypoints, cfg.overrides) == \
        ("paper", 6.4e-3, 512, 50, "paper", [])
    quick = resolve_config("capf", "quick", {"cache": "s", "out": "o"})
    assert (quick.lr, quick.batch_size, quick.keypoints, quick.flip_test) == (6.4e-4, 64, "gt", False)
    assert quick.as_dict() == {**TrainConfig("capf", "s", "o").as_dict(), "recipe": "quick"}  # defaults = quick
    flags = resolve_config("strided", "paper", {"cache": "s", "out": "o", "lr": 2e-4, "frames": 27,
                                                "keypoints": "gt", "max_steps": 3}, lr_step="4:0.9")
    assert (flags.lr, flags.frames, flags.keypoints, flags.optimizer, flags.batch_size) == (2e-4, 27, "gt", "adam", 256)
    assert flags.lr_schedule == LrSchedule(gamma=0.95, step_every=4, step_factor=0.9, step_replaces_gamma=True)
    assert flags.overrides == ["frames", "keypoints", "lr", "schedule"]
    assert resolve_config("poseformer", "quick", {"cache": "s", "out": "o"}, lr_decay=0.9).lr_schedule.gamma == 0.9
    assert resolve_config("capf", "paper", {"cache": "s", "out": "o"}).frames == 1
    assert resolve_config("capf", "paper", {"cache": "s", "out": "o"}, warmup_epochs=2).lr_schedule.factor(0) == 1 / 3
    with pytest.raises(InputError, match="--recipe must be one of paper, quick"):
        get_recipe("capf", "fast")
    with pytest.raises(InputError, match="--lr-step must be EVERY:FACTOR"):
        resolve_config("plt", "paper", {"cache": "s", "out": "o"}, lr_step="4")
    old = TrainConfig.from_dict({"model": "capf", "cache": "s", "out": "o", "lr_decay": 0.97, "frame_stride": 2})
    assert (old.lr_schedule.gamma, old.train_stride, old.test_stride) == (0.97, 2, 2)  # runs saved before recipes


def _protocol_store(path):
    lengths = ((("S1", "Walking", "1"), 10), (("S9", "Walking", "1"), 5), (("S11", "Eating", "1"), 7))
    return build_store(path, lengths=lengths, with_maps=True)


def test_split_protocols_golden_row_counts(tmp_path):
    _protocol_store(tmp_path / "s.zarr")
    r = Reader(tmp_path / "s.zarr")
    counts = {p: (len(split_rows(r, "train", 1, p)), len(split_rows(r, "test", 1, p))) for p in ("p1", "cdl-p2")}
    assert counts == {"p1": (10, 12), "cdl-p2": (15, 7)}  # p1: S1 / S9+S11; cdl-p2: S1+S9 / S11
    assert len(split_rows(r, "test", 2)) == 3 + 4  # every 2nd row of S9 (5) and S11 (7)
    with pytest.raises(InputError, match="no protocol '3dhp' for dataset 'h36m'; known: p1, cdl-p2"):
        split_rows(r, "train", 1, "3dhp")
    t = Trainer(TrainConfig("poseformer", str(tmp_path / "s.zarr"), str(tmp_path / "r"), protocol="cdl-p2",
                            train_stride=2, test_stride=1, workers=0, model_cfg=TINY_PF), progress=False)
    assert (len(t.train_rows), len(t.test_rows)) == (5 + 3, 7)


def test_row_strides_follow_the_store_grid():
    assert row_stride(10, 1, "train_stride") == (10, None)  # PLT 5 fps on a 50 Hz store
    assert row_stride(10, 2, "train_stride") == (5, None)
    rows, note = row_stride(5, 2, "train_stride")  # CDL every 5th frame on a store of every 2nd
    assert rows == 2 and "every 4th frame" in note


def test_h36m_default_2d_source_is_never_gt(tmp_path):
    """Paper recipe on H36M: an imported cpn source when present, else the backbone's detections with a notice
    naming `pipeline import-2d`; a store with neither is an error (never a silent GT fallback)."""
    path = tmp_path / "s.zarr"
    _protocol_store(path)
    src, note = paper_keypoints(path, None)
    assert src == "hrnet32" and "pipeline import-2d" in note and "--name cpn" in note
    cfg = resolve_config("poseformer", "paper", {"cache": str(path), "out": str(tmp_path / "r"), "workers": 0,
                                                 "model_cfg": TINY_PF})
    t = Trainer(cfg, progress=False)
    assert cfg.keypoints == "hrnet32" and t.reader.keypoints == "hrnet32" and any("import-2d" in n for n in t.notes)
    ds = Store.open(path, mode="r+").dataset("h36m")
    ds.add_import("cpn", np.full((ds.n_rows, 17, 2), 100.0, np.float32))
    assert paper_keypoints(path, None) == ("cpn", None)
    cfg = resolve_config("poseformer", "paper", {"cache": str(path), "out": str(tmp_path / "r2"), "workers": 0,
                                                 "model_cfg": TINY_PF})
    t = Trainer(cfg, progress=False)
    assert cfg.keypoints == "cpn" and t.notes == []
    b = t.test_data.batch([0])  # capf's deformable reference points follow the same 2D source (CA-PF Sec. 3.2)
    row = t.reader.read(t.test_rows[:1], fields=("affine",))
    np.testing.assert_allclose(b["ref"], image_to_ref(np.full((1, 17, 2), 100.0), row["affine"], DEFAULT_CROP_HW,
                                                      np.zeros(1, bool), t.test_data.perm), rtol=1e-5)
    bare = tmp_path / "bare.zarr"
    build_store(bare, with_maps=False)
    with pytest.raises(InputError, match="pipeline import-2d.*--keypoints gt"):
        paper_keypoints(bare, None)


def test_recipe_flips_follow_the_stored_maps(tmp_path):
    """capf's recipe flips need flipped maps: without them both go off with a notice; asked by flag, an error."""
    path = tmp_path / "s.zarr"
    _protocol_store(path)  # no flipped maps
    small = {"dim": 8, "depth": 1, "heads": 2}
    cfg = resolve_config("capf", "paper", {"cache": str(path), "out": str(tmp_path / "r"), "workers": 0,
                                           "model_cfg": small})
    t = Trainer(cfg, progress=False)
    assert (cfg.flip_aug, cfg.flip_test) == (False, False)
    assert sum("pipeline extract --flip" in n for n in t.notes) == 2
    cfg = resolve_config("capf", "paper", {"cache": str(path), "out": str(tmp_path / "r"), "workers": 0,
                                           "model_cfg": small, "flip_test": True})
    with pytest.raises(StoreError, match="--flip-test needs the maps of flipped crops.*pipeline extract --flip"):
        Trainer(cfg, progress=False)
    pf = resolve_config("poseformer", "paper", {"cache": str(path), "out": str(tmp_path / "p"), "workers": 0,
                                                "model_cfg": TINY_PF})
    Trainer(pf, progress=False)
    assert (pf.flip_aug, pf.flip_test) == (True, True)  # 2D-only: on, as in the papers


def test_capf_s_costs_fewer_flops_than_capf_at_t27():
    """CA-PF App. C: CA-PF-S 'has fewer FLOPs compared to our full model'. Paper-size defaults, T = 27 (Table 6):
    capf 0.613 G, capf-s (C = 16) 0.450 G per centre frame (FLOPs = 2 x multiply-adds)."""
    import torch

    from lifters.flops import count_batch_flops
    from lifters.models.capf import W32_CHANNELS, ContextAwarePoseFormer
    from lifters.models.capf_s import ContextAwarePoseFormerS
    from schemas.arrays import HRNET_W32_LEVELS

    maps = {k: torch.zeros(1, *s) for k, s in HRNET_W32_LEVELS.items()}
    capf = count_batch_flops(ContextAwarePoseFormer(), {"kp2d": torch.zeros(1, 17, 2),
                                                        "ref": torch.zeros(1, 17, 2), "maps": maps})
    capf_s = count_batch_flops(ContextAwarePoseFormerS(frames=27), {
        "kp2d_seq": torch.zeros(1, 27, 17, 2), "jfeat_seq": torch.zeros(1, 27, 17, sum(W32_CHANNELS.values()))})
    assert capf_s < capf
    assert (round(capf / 1e9, 3), round(capf_s / 1e9, 3)) == (0.613, 0.45)


@pytest.mark.e2e  # the installed console script in a subprocess
def test_train_capf_with_only_the_cache_uses_the_paper_recipe(tmp_path_factory, tmp_path, monkeypatch):
    """`pipeline train capf --cache STORE` (+ --max-steps: CPU) on a real synthetic store (HRNet-W32 maps with
    flipped maps, no CPN import): prints CA-PF's recipe, trains on the backbone's detections (with the notice
    naming `pipeline import-2d`), flips on; evaluate then uses the run's flip-test and labels the 2D source."""
    import json

    from typer.testing import CliRunner

    from cli.main import app
    from tests._lifter_store import real_store

    store = real_store(tmp_path_factory)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    res = CliRunner().invoke(app, ["train", "capf", "--cache", str(store), "--max-steps", "1"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "recipe: capf (CA-PF, CVPR'23)" in out and "CA-PF App. B: 512" in out and "0.0064" in out
    assert "x0.99/epoch" in out and "adamw" in out and "pipeline import-2d" in out
    run = next((tmp_path / "runs").iterdir())
    cfg = json.loads((run / "metrics_log.jsonl").read_text().splitlines()[0])["config"]
    assert (cfg["recipe"], cfg["lr"], cfg["batch_size"], cfg["epochs"], cfg["keypoints"], cfg["flip_aug"],
            cfg["flip_test"]) == ("paper", 6.4e-3, 512, 50, "hrnet32", True, True)
    res = CliRunner().invoke(app, ["evaluate", str(run)])
    assert res.exit_code == 0, res.output
    rep = json.loads((run / "metrics.json").read_text())
    assert rep["flip_test"] is True and rep["2d_source"] == "hrnet32 2D (detected)"
    assert "hrnet32 2D (detected)" in res.output and "flip-test" in res.output


def test_dry_run_prints_the_recipe_and_the_flags_over_it(small_store, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    res = CliRunner().invoke(app, ["train", "strided", "--cache", str(small_store), "--out", str(tmp_path / "d"),
                                   "--frames", "3", "--lr", "2e-4", "--keypoints", "gt", "--dry-run",
                                   "--model-cfg", '{"dim": 16, "hidden": 16, "heads": 2}'], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    lines = {ln.split()[0]: ln for ln in res.output.splitlines() if ln.strip()}
    assert "0.0002" in lines["lr"] and lines["lr"].rstrip().endswith("flag")
    assert "ST Sec. 4.2: 256 (H36M)" in lines["batch_size"] and "x0.5 every 5 epochs" in lines["schedule"]
    assert "GT 2D" in res.output and "train 17, test 5" in res.output and not (tmp_path / "d").exists()


def test_capf_s_2d_source_is_the_one_its_joint_features_were_sampled_at(tmp_path):
    """capf-s reads joint features sampled at one 2D source (`pipeline derive --keypoints`): its paper 2D source
    is that one, with a notice naming the derive command when it is not the protocol's (an imported cpn); sampled
    at cpn, capf-s trains on cpn with no notice."""
    from pipeline.joint_features import derive_joint_features

    path = tmp_path / "s.zarr"
    build_store(path, lengths=((("S1", "Walking", "1"), 10), (("S9", "Walking", "1"), 9)))
    derive_joint_features(str(path), "hrnet32", "hrnet32")
    ds = Store.open(path, mode="r+").dataset("h36m")
    ds.add_import("cpn", np.full((ds.n_rows, 17, 2), 100.0, np.float32))
    cfg = resolve_config("capf-s", "paper", {"cache": str(path), "out": str(tmp_path / "r"), "workers": 0,
                                             "frames": 3, "model_cfg": {"dim": 8, "depth": 1, "heads": 2}})
    t = Trainer(cfg, progress=False)
    assert cfg.keypoints == "hrnet32" and any("joint features were sampled at" in n for n in t.notes)
    assert any("--joint-features --keypoints cpn --replace" in n for n in t.notes)
    # sampled at the imported cpn (as CA-PF-S): capf-s trains on cpn 2D, no notice
    derive_joint_features(str(path), "hrnet32", "cpn", replace=True)
    cfg = resolve_config("capf-s", "paper", {"cache": str(path), "out": str(tmp_path / "r2"), "workers": 0,
                                             "frames": 3, "model_cfg": {"dim": 8, "depth": 1, "heads": 2}})
    t = Trainer(cfg, progress=False)
    assert cfg.keypoints == "cpn" and t.reader.keypoints == "cpn"
    assert not any("2D source" in n for n in t.notes), t.notes
    # an explicit 2D source other than the sampled one would feed the model features of other joints: refused
    cfg = resolve_config("capf-s", "paper", {"cache": str(path), "out": str(tmp_path / "r3"), "workers": 0,
                                             "frames": 3, "keypoints": "gt",
                                             "model_cfg": {"dim": 8, "depth": 1, "heads": 2}})
    with pytest.raises(InputError, match=r"--keypoints gt: the joint features of .* were sampled at .*pass "
                                         r"--keypoints cpn, or resample them with `pipeline derive .* --keypoints gt "
                                         r"--replace`"):
        Trainer(cfg, progress=False)
