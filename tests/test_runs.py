"""A run directory through the console script: --max-steps alone is honoured (the plan line says so), Ctrl-C saves
a checkpoint and says how to resume (exit 130), best.pt holds weights only, the absolute store path is recorded
(evaluate from any directory; a moved store is named with the way out)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests._cli import PIPELINE, one_error
from tests.conftest import build_store

pytestmark = pytest.mark.e2e  # the installed console script in a subprocess: train, Ctrl-C, resume, evaluate

SMALL = '{"dim": 16, "depth": 1, "heads": 2}'
ENV = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1"}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PIPELINE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=ENV)


def test_max_steps_sigint_resume_and_evaluate_from_anywhere(tmp_path: Path) -> None:
    work = tmp_path / "work"
    build_store(work / "store.zarr", with_maps=False)  # 1 train step per epoch: 20 epochs would end at step 20
    proc = subprocess.Popen([PIPELINE, "train", "poseformer", "--cache", "store.zarr", "--out", "run", "--max-steps",
                             "100000", "--keypoints", "gt", "--model-cfg", SMALL], cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=ENV)
    run = work / "run"
    deadline = time.monotonic() + 120
    while not (run / "last.pt").is_file():  # training is under way (an epoch saved)
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the process group, the loader worker too
    out, err = proc.communicate(timeout=60)
    assert "plan: 100000 steps" in out and "--max-steps ends first" not in out, out
    line = one_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), 130)
    last = torch.load(run / "last.pt", weights_only=True)
    step = last["step"]
    assert f"interrupted at step {step}; continue with `pipeline train poseformer --out run --resume`" in line, line
    assert json.loads((run / "metrics_log.jsonl").read_text().splitlines()[-1])["event"] == "interrupted"
    assert last["config"]["cache"] == str(work / "store.zarr") and len(last["fingerprint"]) == 64

    r = _run(["train", "poseformer", "--out", "run", "--resume", "--max-steps", str(step + 2)], cwd=work)
    assert r.returncode == 0 and f"done: step {step + 2}" in r.stdout, r.stdout + r.stderr
    assert f"plan: {step + 2} steps" in r.stdout, r.stdout
    best = torch.load(run / "best.pt", weights_only=True)
    assert "optimizer" in torch.load(run / "last.pt", weights_only=True)
    assert "optimizer" not in best and "rng" not in best and "weights" in best

    assert _run(["evaluate", str(run)], cwd=tmp_path).returncode == 0  # another working directory
    (work / "store.zarr").rename(tmp_path / "moved.zarr")
    r = _run(["evaluate", str(run)], cwd=tmp_path)
    err = one_error(r)
    assert f"{work / 'store.zarr'}, does not exist" in err and "pass --cache STORE" in err, err
    assert "pipeline extract" not in err
