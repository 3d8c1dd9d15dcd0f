"""Run directories through the console script: the absolute store path is recorded (evaluate from anywhere; a
moved store is named with the way out), --max-steps alone is honoured and the plan says what ends the run,
Ctrl-C saves a checkpoint and says how to resume (exit 130), best.pt holds weights only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import torch

from tests._cli import PIPELINE
from tests.conftest import build_store

SMALL = '{"dim": 16, "depth": 1, "heads": 2}'


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([PIPELINE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"})


def _one_error(r: subprocess.CompletedProcess, code: int = 1) -> str:
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


def test_run_records_the_absolute_store_and_evaluates_from_anywhere(tmp_path: Path) -> None:
    work = tmp_path / "work"
    build_store(work / "store.zarr", with_maps=False)
    r = _run(["train", "poseformer", "--cache", "store.zarr", "--out", "run", "--max-steps", "3", "--model-cfg",
              SMALL, "--workers", "0"], cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "plan: 3 steps" in r.stdout, r.stdout  # --max-steps alone: not capped by the default 20 epochs
    run = work / "run"
    last = torch.load(run / "last.pt", weights_only=True)
    best = torch.load(run / "best.pt", weights_only=True)
    assert last["config"]["cache"] == str(work / "store.zarr") and last["step"] == 3 and len(last["fingerprint"]) == 64
    assert "optimizer" in last and "rng" in last and "optimizer" not in best and "rng" not in best
    assert _run(["evaluate", str(run)], cwd=tmp_path).returncode == 0  # another working directory
    (work / "store.zarr").rename(tmp_path / "moved.zarr")
    err = _one_error(_run(["evaluate", str(run)], cwd=tmp_path))
    assert f"{work / 'store.zarr'}, does not exist" in err and "pass --cache STORE" in err, err
    assert "pipeline extract" not in err
    assert _run(["evaluate", str(run), "--cache", str(tmp_path / "moved.zarr")], cwd=tmp_path).returncode == 0


def test_sigint_saves_a_checkpoint_and_says_how_to_resume(tmp_path: Path) -> None:
    build_store(tmp_path / "store.zarr", with_maps=False)
    proc = subprocess.Popen([PIPELINE, "train", "poseformer", "--cache", "store.zarr", "--out", "run", "--max-steps",
                             "100000", "--model-cfg", SMALL], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"})
    log = tmp_path / "run" / "metrics_log.jsonl"
    deadline = time.monotonic() + 120
    while not (log.is_file() and (tmp_path / "run" / "last.pt").is_file()):  # training is under way (epoch 1 saved)
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the process group, the loader worker too
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    line = next(x for x in err.splitlines() if x.startswith("error:"))
    step = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"]
    assert f"interrupted at step {step}; continue with `pipeline train poseformer --out run --resume`" in line, line
    assert json.loads(log.read_text().splitlines()[-1])["event"] == "interrupted"
    r = _run(["train", "poseformer", "--out", "run", "--resume", "--max-steps", str(step + 2)], cwd=tmp_path)
    assert r.returncode == 0 and f"done: step {step + 2}" in r.stdout, r.stdout + r.stderr
