"""Session fixtures for the flow tests: one real `prefect server start`, one tiny synthetic H36M set, one clean
`pipeline extract` run against the server, and a real Dask scheduler with two worker processes (one GPU-labelled).

Registered from tests/conftest.py with `pytest_plugins = ["prefect_server"]`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CAMERAS = ["54138969", "55011271"]
ACTIONS = ["Directions 1", "Walking 1"]
N_CLIPS, N_FRAMES = len(CAMERAS) * len(ACTIONS), 2  # 4 clips x 2 frames = 8 rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout: float, what: str, proc: subprocess.Popen | None = None, step: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        time.sleep(step)
    raise TimeoutError(f"{what}: not ready after {timeout} s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - local test server
            return r.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate a process group started with start_new_session=True (SIGKILL if it lingers)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class CliRun:
    rc: int
    out: str
    seconds: float

    @property
    def flow_run_id(self) -> str:
        m = re.search(r"/runs/flow-run/([0-9a-f-]{36})", self.out)
        assert m, f"no flow-run link in the output:\n{self.out}"
        return m.group(1)


def extract_args(root: Path, store: Path, *extra: str) -> list[str]:
    return [str(BIN / "pipeline"), "extract", "--dataset", "h36m", "--root", str(root), "--store", str(store),
            "--torch-threads", "1", "--batch-size", "2", *extra]


def cli_env(api_url: str | None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "1000", "NO_COLOR": "1", "TERM": "dumb",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **extra}
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> CliRun:
    """Run a CLI command in its own process group; stdout and stderr together."""
    t0 = time.perf_counter()
    p = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                       start_new_session=True)
    return CliRun(p.returncode, p.stdout + p.stderr, time.perf_counter() - t0)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API URL of a real `prefect server start` on 127.0.0.1 with a temporary PREFECT_HOME (sqlite)."""
    home = tmp_path_factory.mktemp("prefect_home")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "true", "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}  # else UI calls :4200
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/api/health"), 180, "prefect server", proc, 0.5)
        yield f"http://127.0.0.1:{port}/api"
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="session")
def h36m_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 subject x 2 actions x 2 cameras x 2 frames of synthetic H36M (real H.264 videos, real .cdf)."""
    from pipeline.synth.h36m import synth_h36m

    root = tmp_path_factory.mktemp("h36m_raw")
    synth_h36m(root, subjects=["S1"], actions=ACTIONS, frames=N_FRAMES, cameras=CAMERAS)
    return root


def read_artifacts(api_url: str, flow_run_id: str) -> dict[str, dict]:
    """key -> artifact (type, data, ...) of a flow run, from the REST API (SyncPrefectClient sends nulls it rejects)."""
    import httpx

    r = httpx.post(f"{api_url}/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}},
                                                         "sort": "CREATED_DESC", "limit": 200, "offset": 0})
    r.raise_for_status()
    return {a["key"]: a for a in r.json() if a.get("key")}


@dataclass
class CleanRun:
    store: Path
    run: CliRun
    summary: dict


@pytest.fixture(scope="session")
def clean_run(prefect_server: str, dask_cluster: DaskCluster, h36m_raw: Path,
              tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    """One uninterrupted `pipeline extract` on the test Dask cluster with `--gpus-per-worker 1`, reporting to the
    test server: the reference store, the GPU-placement run and the run the Prefect client/UI tests read back."""
    tmp = tmp_path_factory.mktemp("clean")
    store, js = tmp / "clean.zarr", tmp / "summary.json"
    run = run_cli(extract_args(h36m_raw, store, "--dask-address", dask_cluster.address, "--gpus-per-worker", "1",
                               "--summary-json", str(js)), cli_env(prefect_server))
    assert run.rc == 0, run.out
    return CleanRun(store, run, json.loads(js.read_text()))


@dataclass
class DaskCluster:
    address: str
    gpu_worker: str
    cpu_worker: str


@pytest.fixture(scope="session")
def dask_cluster(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """`dask scheduler` + two `dask worker --nthreads 1` processes, one with `--resources GPU=1` (a label)."""
    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = cli_env(prefect_server)
    procs: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        with open(logs / f"{name}.log", "w") as log:
            procs.append(subprocess.Popen([str(BIN / "dask"), *args], env=env, cwd=REPO, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0")
        wait_until(lambda: _port_open(port), 60, "dask scheduler", procs[0])
        gpu_port, cpu_port = free_port(), free_port()
        start("gpu", "worker", address, "--nthreads", "1", "--nworkers", "1", "--resources", "GPU=1",
              "--host", "127.0.0.1", "--worker-port", str(gpu_port), "--no-dashboard", "--name", "gpu-worker")
        start("cpu", "worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
              "--worker-port", str(cpu_port), "--no-dashboard", "--name", "cpu-worker")
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=120)
        yield DaskCluster(address, f"tcp://127.0.0.1:{gpu_port}", f"tcp://127.0.0.1:{cpu_port}")
    finally:
        for p in reversed(procs):
            stop(p)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
