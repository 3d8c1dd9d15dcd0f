"""GPU placement on a real Dask cluster (scheduler + 2 worker processes, one with `--resources GPU=1`): with
--gpus-per-worker every clip task ran on the GPU-labelled worker (prefect-dask drops annotations; the
ResourceDaskTaskRunner passes resources on submit); without it, the same tasks spread over both workers."""

from __future__ import annotations

import json
from pathlib import Path

from prefect_server import N_CLIPS, cli_env, extract_args, run_cli


def test_gpu_tasks_run_only_on_gpu_workers(clean_run, dask_cluster) -> None:
    s = clean_run.summary  # `--dask-address ... --gpus-per-worker 1` (device cpu: GPU is a label here)
    assert s["clips_done"] == N_CLIPS
    assert s["workers"] == {dask_cluster.gpu_worker: N_CLIPS}, s["workers"]


def test_without_gpus_tasks_use_both_workers(clean_run, dask_cluster, prefect_server: str, h36m_raw: Path,
                                             tmp_path: Path) -> None:
    from distributed import Client

    from flows.extract import _warm_up
    from flows.work import BackboneRequest

    with Client(dask_cluster.address) as client:  # both models built first, so neither worker is busy with it
        client.run(_warm_up, BackboneRequest("hrnet32"), 1)
    js = tmp_path / "summary.json"
    run = run_cli(extract_args(h36m_raw, tmp_path / "s.zarr", "--dask-address", dask_cluster.address,
                               "--summary-json", str(js)), cli_env(prefect_server))
    assert run.rc == 0, run.out
    workers = json.loads(js.read_text())["workers"]
    assert sum(workers.values()) == N_CLIPS
    assert set(workers) == {dask_cluster.gpu_worker, dask_cluster.cpu_worker}, workers
