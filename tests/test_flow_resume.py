"""Resume and idempotence with real processes: a rerun skips done clips; a run killed with SIGKILL mid-way, then
rerun, gives arrays identical to an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from prefect_server import N_CLIPS, REPO, cli_env, extract_args, run_cli

from schemas.arrays import DONE
from storage.store import Store

pytestmark = pytest.mark.e2e  # a real Prefect server, Dask cluster or browser: `pytest -m "not e2e"` skips it


def _data_files(store: Path) -> dict[str, int]:
    """mtime_ns of every chunk/shard file under rows/ and backbones/."""
    base = store / "h36m"
    return {str(p.relative_to(store)): p.stat().st_mtime_ns for sub in ("rows", "backbones")
            for p in (base / sub).rglob("*") if p.is_file() and p.name != "zarr.json"}


def _arrays(store: Path) -> dict[str, np.ndarray]:
    g = zarr.open_group(str(store), mode="r", use_consolidated=False)
    out: dict[str, np.ndarray] = {}
    for sub in ("h36m/rows", "h36m/backbones", "h36m/clips"):
        for name, arr in g[sub].arrays():
            out[f"{sub}/{name}"] = arr[:]
        for gname, grp in g[sub].groups():
            for name, arr in grp.arrays():
                out[f"{sub}/{gname}/{name}"] = arr[:]
    return out


def test_rerun_skips_done_clips(prefect_server: str, h36m_raw: Path, clean_run, dask_cluster, tmp_path: Path) -> None:
    store = clean_run.store
    before = _data_files(store)
    js = tmp_path / "s.json"  # the clean run's command again
    run = run_cli(extract_args(h36m_raw, store, "--dask-address", dask_cluster.address, "--gpus-per-worker", "1",
                               "--summary-json", str(js)), cli_env(prefect_server))
    assert run.rc == 0, run.out
    s = json.loads(js.read_text())
    assert (s["clips_skipped"], s["clips_done"], s["frames"], s["failures"]) == (N_CLIPS, 0, 0, [])
    assert _data_files(store) == before  # nothing rewritten


def _done(store: Path) -> int:
    try:
        return int((Store.open(store).dataset("h36m").status("hrnet32") == DONE).sum())
    except Exception:  # noqa: BLE001 - not created yet / being created
        return 0


def test_sigkill_mid_run_then_rerun_matches_clean_run(prefect_server: str, h36m_raw: Path, clean_run,
                                                      tmp_path: Path) -> None:
    store = tmp_path / "killed.zarr"
    args = extract_args(h36m_raw, store)  # a local Dask cluster: its workers die with the process group
    proc = subprocess.Popen(args, env=cli_env(prefect_server), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not 1 <= _done(store) < N_CLIPS:
            assert proc.poll() is None, "the run ended before it could be killed mid-way"
            assert time.monotonic() < deadline, "no clip finished in time"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its local Dask workers
        proc.wait()
    done = _done(store)
    assert 1 <= done < N_CLIPS, done
    js = tmp_path / "s.json"
    run = run_cli([*args, "--summary-json", str(js)], cli_env(prefect_server))
    assert run.rc == 0, run.out
    s = json.loads(js.read_text())
    assert s["clips_skipped"] >= done and s["clips_skipped"] + s["clips_done"] == N_CLIPS
    clean, resumed = _arrays(clean_run.store), _arrays(store)
    assert sorted(clean) == sorted(resumed)
    assert any(k.startswith("h36m/backbones/hrnet32/s4") for k in clean)
    for k in clean:
        assert np.array_equal(clean[k], resumed[k]), k
