"""lifters.train: tiny runs on a real extracted store (checkpoints, log, lr groups), exact resume, bad input,
and the `pipeline train` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from lifters.checkpoint import StoreChangedWarning, load_checkpoint, store_fingerprint
from lifters.config import TrainConfig, resumed_config
from lifters.train import train
from schemas.camera import Camera
from schemas.errors import CacheError, InputError, StoreError
from storage.reader import Reader
from storage.store import Store
from tests._cli import run_cli
from tests._lifter_store import real_store
from tests.conftest import build_store

TINY = {"dim": 32, "depth": 1, "heads": 4}


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return real_store(tmp_path_factory)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def cfg(store, out, model="capf", **kw) -> TrainConfig:
    base = dict(batch_size=4, workers=0, eval_every=2, model_cfg=dict(TINY))
    return TrainConfig(model=model, cache=str(store), out=str(out), **{**base, **kw})


def log(out) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics_log.jsonl").read_text().splitlines()]


def test_capf_run_writes_checkpoints_log_and_fingerprint(store, tmp_path):
    out = tmp_path / "run"
    s = train(cfg(store, out, max_steps=4), progress=False)
    assert s["step"] == 4 and s["epoch"] == 2.0 and np.isfinite(s["best_p1_mm"])
    assert {p.name for p in out.iterdir()} == {"last.pt", "best.pt", "metrics_log.jsonl"}
    events = log(out)
    assert [e["event"] for e in events] == ["start", "eval", "eval", "end"]
    assert events[0]["train_rows"] == 8 and events[0]["test_rows"] == 8 and events[0]["steps_per_epoch"] == 2
    ev = events[1:3]
    assert [e["step"] for e in ev] == [2, 4] and all(e["test_p1_mm"] > 0 for e in ev)
    assert events[-1]["best_p1_mm"] == min(e["test_p1_mm"] for e in ev)
    assert all(0 <= e["data_wait_frac"] <= 1 and e["samples_per_s"] > 0 for e in ev)
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["model"] == "capf" and ck["step"] == 4 and ck["epoch"] == 2
    assert ck["model_cfg"] == {"num_joints": 17, "levels": {"s4": 32, "s8": 64, "s16": 128, "s32": 256}, **TINY}
    assert ck["config"]["backbone"] == "hrnet32" and ck["config"]["dataset"] == "h36m"
    assert ck["fingerprint"] == store_fingerprint(Reader(store))
    groups = {g["name"]: g["lr"] for g in ck["optimizer"]["param_groups"]}
    assert groups["base"] == pytest.approx(6.4e-4 * 0.99)  # epoch 1 of exponential decay
    assert groups["sampling_offsets"] == pytest.approx(6.4e-5 * 0.99)  # offsets at 0.1x
    assert ev[1]["lr"] == pytest.approx(6.4e-4 * 0.99)


def test_poseformer_training_lowers_the_loss(store, tmp_path):
    out = tmp_path / "pf"
    train(cfg(store, out, model="poseformer", max_steps=40, eval_every=10, lr=2e-3), progress=False)
    ev = [e for e in log(out) if e["event"] == "eval"]
    assert len(ev) == 4
    assert ev[-1]["train_loss_mm"] < 0.6 * ev[0]["train_loss_mm"]
    assert not (out / "best.pt").exists() or torch.load(out / "best.pt", weights_only=True)["model"] == "poseformer"


def test_resume_repeats_the_uninterrupted_run(store, tmp_path):
    kw = dict(flip_aug=True, eval_every=2, seed=7)
    a, b = tmp_path / "a", tmp_path / "b"
    train(cfg(store, a, max_steps=6, **kw), progress=False)
    train(cfg(store, b, max_steps=3, **kw), progress=False)  # stops mid-epoch 1 (2 steps per epoch)
    assert load_checkpoint(b / "last.pt")["step"] == 3
    saved = load_checkpoint(b / "last.pt")["config"]
    train(resumed_config(saved, {"max_steps": 6}), resume=True, progress=False)
    ca, cb = torch.load(a / "last.pt", weights_only=True), torch.load(b / "last.pt", weights_only=True)
    assert ca["step"] == cb["step"] == 6
    for k, v in ca["weights"].items():
        torch.testing.assert_close(cb["weights"][k], v, rtol=0, atol=1e-6)
    la, lb = log(a)[-2], log(b)[-2]
    assert la["event"] == lb["event"] == "eval" and la["test_p1_mm"] == pytest.approx(lb["test_p1_mm"], abs=1e-3)
    assert [e["event"] for e in log(b)] == ["start", "eval", "eval", "end", "resume", "eval", "eval", "end"]


def test_bad_runs_and_models(store, tmp_path):
    with pytest.raises(InputError, match=r"unknown model 'capff'; valid models: capf, .*poseformer"):
        train(cfg(store, tmp_path / "x", model="capff"), progress=False)
    out = tmp_path / "run"
    train(cfg(store, out, model="poseformer", max_steps=1), progress=False)
    with pytest.raises(InputError, match=r"already holds a run \(last.pt\); pass --resume"):
        train(cfg(store, out, model="poseformer", max_steps=1), progress=False)
    with pytest.raises(InputError, match=r"last.pt is a checkpoint of model 'poseformer', not 'capf'"):
        train(cfg(store, out, model="capf", max_steps=2), resume=True, progress=False)
    with pytest.raises(InputError, match=r"holds no last.pt to continue"):
        train(cfg(store, tmp_path / "empty"), resume=True, progress=False)
    saved = load_checkpoint(out / "last.pt")["config"]
    with pytest.raises(InputError, match=r"differ from it: batch_size: saved 4, given 8"):
        resumed_config(saved, {"batch_size": 8, "epochs": 3})
    assert resumed_config(saved, {"epochs": 3, "batch_size": 4}).epochs == 3


def test_bad_stores(tmp_path):
    only_train = tmp_path / "train_only.zarr"
    build_store(only_train, lengths=((("S1", "Walking", "1"), 6),))
    with pytest.raises(StoreError, match=r"no test-split rows \(subjects S9, S11\)"):
        train(cfg(only_train, tmp_path / "r1"), progress=False)
    nomaps = tmp_path / "nomaps.zarr"
    build_store(nomaps, with_maps=False)
    with pytest.raises(StoreError, match=r"needs backbone feature maps; backbones in the store: none"):
        train(cfg(nomaps, tmp_path / "r2"), progress=False)
    s = train(cfg(nomaps, tmp_path / "r3", model="poseformer", max_steps=1), progress=False)  # 2D only is fine
    assert s["step"] == 1
    with pytest.raises(StoreError, match=r"no 2D source 'cpn'; available: gt$"):
        train(cfg(nomaps, tmp_path / "r4", model="poseformer", keypoints="cpn"), progress=False)
    build_store(tmp_path / "x.zarr")
    with pytest.raises(StoreError, match=r"no backbone maps 'hrnet48'; it has: hrnet32"):
        train(cfg(tmp_path / "x.zarr", tmp_path / "r5", backbone="hrnet48"), progress=False)


def test_store_changed_since_checkpoint_warns_with_both_fingerprints(tmp_path):
    path = tmp_path / "s.zarr"
    build_store(path)
    out = tmp_path / "run"
    train(cfg(path, out, max_steps=2), progress=False)
    old = load_checkpoint(out / "last.pt")["fingerprint"]
    cam = Camera(f=[1000.0, 1000.0], c=[500.0, 500.0], t_w2c=[0, 0, 5000.0], id="x")
    ds = Store.open(path, mode="r+").dataset("h36m")
    ds.allocate([dict(subject="S11", action="Eating", subaction="1", camera="x", source="v.mp4")], [3], [[cam]])
    new = store_fingerprint(Reader(path))
    assert new != old
    saved = load_checkpoint(out / "last.pt")["config"]
    with pytest.warns(StoreChangedWarning, match=rf"fingerprint {old[:16]}, store now {new[:16]}"):
        train(resumed_config(saved, {"max_steps": 3}), resume=True, progress=False)


@pytest.mark.e2e  # the installed console script in a subprocess
def test_cli_dry_run_and_errors(store, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["train", "capf", "--recipe", "quick", "--cache", str(store), "--out",
                              str(tmp_path / "d"), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "parameters" in res.output and "14,280,003" in res.output and "FLOPs / sample" in res.output
    assert "0.61" in res.output and "train 8, test 8" in res.output
    assert not (tmp_path / "d").exists()
    r = run_cli("train", "nope", "--cache", str(store), "--out", str(tmp_path / "e"))
    assert r.returncode == 1 and "valid models: capf, " in r.stderr and "poseformer" in r.stderr
    assert "Traceback" not in r.stderr
    for args, msg in ((["--out", str(tmp_path / "e")], "--cache STORE is required"),
                      (["--cache", str(store), "--out", str(tmp_path / "e"), "--backbone", "vit"], "it has: hrnet32"),
                      (["--cache", str(store), "--out", str(tmp_path / "e"), "--model-cfg", "[1]"], "JSON object")):
        res = runner.invoke(app, ["train", "capf", *args])
        assert isinstance(res.exception, CacheError) and msg in str(res.exception)
    r = run_cli("train", "capf", cwd=tmp_path)  # as typed without --cache: a usage error, nothing created
    assert r.returncode == 2 and "--cache STORE is required" in r.stderr and "Traceback" not in r.stderr
    assert "run directory" not in r.stdout and not (tmp_path / "runs").exists()
