"""Bad input to `pipeline extract`: each a real CLI process that fails fast with one clear error line, no traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect_server import REPO, cli_env, extract_args, free_port, run_cli, wait_until

pytestmark = pytest.mark.e2e  # a real Prefect server, Dask cluster or browser: `pytest -m "not e2e"` skips it


def _fails(run, *needles: str, rc: int = 2) -> None:
    """One error line holding `needles`; exit 2 for a bad argument (found before anything starts), else `rc`."""
    assert run.rc == rc, run.out
    assert "Traceback" not in run.out, run.out
    errors = [line for line in run.out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.out
    for n in needles:
        assert n in errors[0], errors[0]


def test_unknown_dataset(tmp_path: Path) -> None:
    args = extract_args(tmp_path, tmp_path / "s.zarr")
    args[args.index("h36m")] = "h37m"
    _fails(run_cli(args, cli_env(None)), "--dataset 'h37m' is unknown", "h36m, 3dhp, muco")


def test_root_missing(tmp_path: Path) -> None:
    _fails(run_cli(extract_args(tmp_path / "nope", tmp_path / "s.zarr"), cli_env(None)), "--root", "does not exist")


def test_store_is_a_file(h36m_raw: Path, tmp_path: Path) -> None:
    (tmp_path / "s.zarr").write_text("not a store")
    _fails(run_cli(extract_args(h36m_raw, tmp_path / "s.zarr"), cli_env(None)), "--store", "is a file")


def test_dask_address_unreachable_fails_within_seconds(h36m_raw: Path, tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    run = run_cli(extract_args(h36m_raw, tmp_path / "s.zarr", "--dask-address", address), cli_env(None))
    _fails(run, f"--dask-address {address}", "no Dask scheduler answers")
    assert run.seconds < 15, run.seconds


def test_prefect_server_down_fails_clearly(h36m_raw: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    run = run_cli(extract_args(h36m_raw, tmp_path / "s.zarr"), cli_env(url))
    _fails(run, f"PREFECT_API_URL={url} does not answer", "pipeline server", rc=1)
    assert run.seconds < 30, run.seconds


def test_second_run_on_same_store_refuses_naming_the_holder(h36m_raw: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from storage.lock import StoreLock; "
                               "StoreLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(120)",
                               str(store)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: holder.stdout.readline().strip() == "locked", 60, "lock holder", holder)
        t0 = time.perf_counter()
        run = run_cli(extract_args(h36m_raw, store), cli_env(None))
        _fails(run, "is being written by another run", f"pid {holder.pid}", "StoreLock", rc=1)
        assert time.perf_counter() - t0 < 60  # refused at once, not after the holder's 120 s (margin for loaded CI)
    finally:
        holder.kill()
        holder.wait()
