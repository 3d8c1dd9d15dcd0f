"""The README's first commands exactly as a user types them, through the installed console script, in a fresh
directory: synth a trial set, `pipeline extract --dataset h36m --backbone hrnet32`, `pipeline train capf --cache
./store`, `pipeline evaluate` (the latest run). Reports to the session's real Prefect server."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from prefect_server import cli_env

from tests._cli import PIPELINE

pytestmark = pytest.mark.e2e  # a real Prefect server and Dask LocalCluster


@pytest.mark.timeout(1500)  # the full-size capf trains on the CPU with its default recipe
def test_readme_commands_as_typed(prefect_server, tmp_path):
    env = cli_env(prefect_server)
    env.pop("CTXPOSE_DATA", None)

    def typed(line: str, *extra: str) -> str:
        args = line.split()[1:] + list(extra)  # `pipeline ...` as in the README
        r = subprocess.run([PIPELINE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"{line}\n{r.stdout}\n{r.stderr}"
        assert "Traceback" not in r.stdout + r.stderr
        return r.stdout

    # the trial data of the README, kept small here: 1 action, 2 frames per video (S1 train, S9 test, 4 cameras)
    typed("pipeline synth --dataset h36m --out data/h36m", "--frames", "2", "--actions", "Directions 1")
    out = typed("pipeline extract --dataset h36m --backbone hrnet32")
    assert "clips done" in out and (tmp_path / "store" / "zarr.json").is_file()
    info = json.loads(typed("pipeline info ./store --json"))
    h36m = info["datasets"]["h36m"]
    assert h36m["clips_done"] == h36m["clips"] == 8 and h36m["rows_written"] == 16
    out = typed("pipeline train capf --cache ./store")
    assert out.splitlines()[0].startswith("run directory: runs/capf-")
    run = tmp_path / out.splitlines()[0].split()[2]
    assert (run / "best.pt").is_file() and (run / "last.pt").is_file()
    out = typed("pipeline evaluate")
    assert f"evaluating the latest run: {run.relative_to(tmp_path)}" in out.splitlines()[0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["metrics"]["P1"]["mean_over_frames"] > 0
    assert sorted(os.listdir(tmp_path)) == [".store.lock", "data", "runs", "store"]  # the lock sits beside the store
