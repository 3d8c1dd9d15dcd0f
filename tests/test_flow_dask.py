"""GPU placement on a real Dask cluster (scheduler + 2 worker processes, one with `--resources GPU=1`): with
--gpus-per-worker every clip task ran on the GPU-labelled worker (prefect-dask drops annotations; the
ResourceDaskTaskRunner passes resources on submit); without it, the same tasks spread over both workers.
And the multi-node path of docs/multinode.md: the store those worker processes wrote (sharing only the filesystem
with the test; a train and a test subject) is what `pipeline train` then reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect_server import CAMERAS, N_CLIPS, N_FRAMES, cli_env, extract_args, run_cli

pytestmark = pytest.mark.e2e  # a real Prefect server, Dask cluster or browser: `pytest -m "not e2e"` skips it


def test_gpu_tasks_run_only_on_gpu_workers(clean_run, dask_cluster) -> None:
    s = clean_run.summary  # `--dask-address ... --gpus-per-worker 1` (device cpu: GPU is a label here)
    assert s["clips_done"] == N_CLIPS
    assert s["workers"] == {dask_cluster.gpu_worker: N_CLIPS}, s["workers"]


@dataclass
class SharedRun:
    store: Path
    workers: dict[str, int]


@pytest.fixture(scope="module")
def both_workers_run(clean_run, dask_cluster, prefect_server: str, tmp_path_factory: pytest.TempPathFactory
                     ) -> SharedRun:
    """`pipeline extract --dask-address` without --gpus-per-worker on synthetic H36M S1 (train) + S9 (test),
    1 action x 2 cameras = N_CLIPS clips, into a store under a 'shared' directory."""
    from distributed import Client

    from flows.extract import _warm_up
    from flows.work import BackboneRequest
    from pipeline.synth.h36m import synth_h36m

    with Client(dask_cluster.address) as client:  # both models built first, so neither worker is busy with it
        client.run(_warm_up, BackboneRequest("hrnet32"), 1)
    tmp = tmp_path_factory.mktemp("shared_run")
    raw, store, js = tmp / "raw", tmp / "shared" / "store.zarr", tmp / "summary.json"
    synth_h36m(raw, subjects=["S1", "S9"], actions=["Walking 1"], frames=N_FRAMES, cameras=CAMERAS)
    run = run_cli(extract_args(raw, store, "--dask-address", dask_cluster.address, "--summary-json", str(js)),
                  cli_env(prefect_server))
    assert run.rc == 0, run.out
    return SharedRun(store, json.loads(js.read_text())["workers"])


def test_without_gpus_tasks_use_both_workers(both_workers_run, dask_cluster) -> None:
    workers = both_workers_run.workers
    assert sum(workers.values()) == N_CLIPS
    assert set(workers) == {dask_cluster.gpu_worker, dask_cluster.cpu_worker}, workers


def test_training_reads_the_store_dask_workers_wrote(both_workers_run, tmp_path: Path, one_torch_thread) -> None:
    """Multi-node path (docs/multinode.md): `dask worker` processes that share nothing with this process but the
    filesystem wrote STORE; `pipeline train --cache STORE` trains on exactly those rows (S1 train, S9 test), and
    its checkpoint carries the fingerprint of the store as the workers left it."""
    import torch
    from typer.testing import CliRunner

    from cli.main import app
    from lifters.checkpoint import store_fingerprint
    from storage.reader import Reader

    store, run_dir = both_workers_run.store, tmp_path / "run"
    r = Reader(store)
    assert sorted((c.subject, c.camera, c.length) for c in r.ready_clips()) == \
        [(s, cam, N_FRAMES) for s in ("S1", "S9") for cam in CAMERAS]
    train = CliRunner().invoke(app, ["train", "poseformer", "--recipe", "quick", "--cache", str(store),
                                     "--out", str(run_dir),
                                     "--max-steps", "3", "--batch-size", "2", "--workers", "0",
                                     "--model-cfg", '{"dim": 16, "depth": 1, "heads": 2}'])
    assert train.exit_code == 0, train.output
    log = [json.loads(x) for x in (run_dir / "metrics_log.jsonl").read_text().splitlines()]
    start, end = log[0], log[-1]
    rows = 2 * N_FRAMES  # per subject: 2 cameras x N_FRAMES frames
    assert (start["event"], start["train_rows"], start["test_rows"]) == ("start", rows, rows)
    assert end["event"] == "end" and end["step"] == 3
    ckpt = torch.load(run_dir / "last.pt", weights_only=False)
    assert ckpt["step"] == 3 and ckpt["fingerprint"] == store_fingerprint(r) == start["fingerprint"]
