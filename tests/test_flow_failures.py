"""Failure isolation: a corrupt video fails its clip after --retries, the other clips land, the run exits non-zero
with the error in the CLI table, the Prefect task run and the summary artifact; a rerun retries only that clip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from prefect_server import N_CLIPS, N_FRAMES, cli_env, extract_args, read_artifacts, run_cli

from schemas.arrays import DONE, FAILED
from storage.store import Store

pytestmark = pytest.mark.e2e  # a real Prefect server, Dask cluster or browser: `pytest -m "not e2e"` skips it

BAD = "S1/Videos/Walking 1.55011271.mp4"
BAD_CLIP = "S1/Walking 1/55011271"


def test_corrupt_video_is_retried_reported_and_rerun(dask_cluster, prefect_server: str, h36m_raw: Path,
                                                     tmp_path: Path) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    raw = tmp_path / "raw"
    shutil.copytree(h36m_raw, raw)
    video = raw / BAD
    good = video.read_bytes()
    video.write_bytes(good[:64] + b"\x00garbage" * 64)  # keeps the header box, breaks the stream
    store, js = tmp_path / "s.zarr", tmp_path / "s.json"
    args = extract_args(raw, store, "--dask-address", dask_cluster.address, "--retries", "1",
                        "--summary-json", str(js))
    run = run_cli(args, cli_env(prefect_server))
    assert run.rc == 1, run.out
    assert "Traceback" not in run.out, run.out
    assert "failed clips" in run.out and BAD_CLIP in run.out, run.out
    s = json.loads(js.read_text())
    assert s["clips_done"] == N_CLIPS - 1 and s["frames"] == (N_CLIPS - 1) * N_FRAMES
    assert [f["clip"] for f in s["failures"]] == [BAD_CLIP]
    error = s["failures"][0]["error"]
    assert error.split(":")[0] in run.out

    ds = Store.open(store).dataset("h36m")
    status = ds.status("hrnet32")
    bad_index = next(c.index for c in ds.clips() if c.source == BAD)
    assert status[bad_index] == FAILED and (status == DONE).sum() == N_CLIPS - 1

    with SyncPrefectClient(api=prefect_server) as client:
        flow_run_id = s["flow_run_id"]
        trs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                                    sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200)
        failed = [t for t in trs if t.state.is_failed()]
        assert [t.name for t in failed] == [f"clip-{bad_index}"], [(t.name, t.state) for t in trs]
        assert failed[0].run_count == 2  # the first try + --retries 1
    md = read_artifacts(prefect_server, flow_run_id)["extract-summary"]["data"]
    assert BAD_CLIP in md and error.split(":")[0] in md, md

    video.write_bytes(good)  # repaired: the rerun retries the failed clip only
    rerun = run_cli(args, cli_env(prefect_server))
    assert rerun.rc == 0, rerun.out
    s2 = json.loads(js.read_text())
    assert (s2["clips_skipped"], s2["clips_done"], s2["failures"]) == (N_CLIPS - 1, 1, [])
    assert (Store.open(store).dataset("h36m").status("hrnet32") == DONE).all()
