"""Processes and console output of a run on its own temporary Prefect server and Dask LocalCluster: a failed clip
is one console line (its traceback goes to `<store>.log`), the final text does not link to the stopped temporary
server; and after SIGKILL of the command, nothing it started survives (the watchdog of flows/watchdog.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from prefect_server import REPO, cli_env, extract_args

from flows.watchdog import descendants

pytestmark = pytest.mark.e2e  # a temporary Prefect server and a Dask LocalCluster


def test_sigkill_leaves_no_server_or_workers_and_failures_are_one_line(h36m_raw: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(h36m_raw, raw)
    bad = raw / "S1/Videos/Walking 1.55011271.mp4"
    bad.write_bytes(bad.read_bytes()[:64] + b"\x00garbage" * 64)
    store = tmp_path / "s.zarr"
    args = extract_args(raw, store, "--retries", "0", "--workers", "1")
    proc = subprocess.Popen(args, env=cli_env(None), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines: list[str] = []
    try:
        for line in proc.stdout:  # until the cluster is up: the Prefect server and the workers run
            lines.append(line)
            if line.startswith("Dask: local cluster"):
                break
        time.sleep(3)
        helpers = descendants(proc.pid)
        assert len(helpers) >= 2, (helpers, lines)  # the temporary server, the nanny / worker processes
        os.kill(proc.pid, signal.SIGKILL)  # the command alone, as `kill -9 PID` does
        proc.wait()
        deadline = time.monotonic() + 20
        while (alive := [p for p in helpers if Path(f"/proc/{p}").exists()
                         and Path(f"/proc/{p}/stat").read_text().split(")")[-1].split()[0] != "Z"]):
            assert time.monotonic() < deadline, f"survivors after SIGKILL: {alive}"
            time.sleep(0.3)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    run = subprocess.run(args, env=cli_env(None), cwd=REPO, capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "Traceback" not in out, out
    failed = [line for line in out.splitlines() if line.startswith("clip failed")]
    assert len(failed) == 1 and "S1/Walking 1/55011271" in failed[0] and str(bad) in failed[0], out
    log = tmp_path / "s.zarr.log"
    assert f"Prefect's logs of this run (tracebacks of failed clips): {log}" in out
    assert "Traceback" in log.read_text()
    assert "temporary Prefect server of this run has stopped" in out and "/runs/flow-run/" not in out
