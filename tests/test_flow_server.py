"""`pipeline extract` against a real Prefect server: flow run, task runs and artifacts read back through the Prefect
client, and the flow-run page rendered by the Prefect UI in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prefect_server import N_CLIPS, N_FRAMES, REPO, read_artifacts

pytestmark = pytest.mark.e2e  # a real Prefect server, Dask cluster or browser: `pytest -m "not e2e"` skips it

CHROMIUM = "/usr/bin/chromium"


def _client(api_url: str):
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(api=api_url)


def test_flow_run_task_runs_and_artifacts(prefect_server: str, clean_run, dask_cluster) -> None:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    fid = clean_run.run.flow_run_id
    with _client(prefect_server) as client:
        fr = client.read_flow_run(fid)
        assert fr.state.is_completed(), fr.state
        assert client.read_flow(fr.flow_id).name == "extract"
        assert fr.parameters["request"]["dataset"] == "h36m"  # the ExtractRequest, whole
        trs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[fr.id])),
                                    sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200)
        clips = [t for t in trs if t.name.startswith("clip-")]
        assert sorted(t.name for t in clips) == [f"clip-{i}" for i in range(N_CLIPS)]
        assert all(t.state.is_completed() for t in clips), [(t.name, t.state) for t in clips]
    by_key = read_artifacts(prefect_server, fid)
    assert {"extract-progress", "extract-summary", "dask-dashboard"} <= set(by_key), sorted(by_key)
    assert by_key["extract-progress"]["type"] == "progress" and float(by_key["extract-progress"]["data"]) == 100.0
    md = by_key["extract-summary"]["data"]
    row = next(line for line in md.splitlines() if " done + " in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == f"{N_CLIPS} done + 0 already done / {N_CLIPS}" and cells[1] == str(N_CLIPS * N_FRAMES)
    assert cells[-1] == "0"  # failures
    assert f"| {dask_cluster.gpu_worker} | {N_CLIPS} |" in md, md  # the GPU-labelled worker ran every clip
    link = by_key["dask-dashboard"]["data"]  # a link artifact is stored as markdown "[text](url)"
    assert re.search(r"\[Dask dashboard\]\(http://127\.0\.0\.1:\d+/status\)", link), link


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,900",
                           "--virtual-time-budget=20000", *args], capture_output=True, text=True, timeout=120)


def test_prefect_ui_shows_the_flow_run(prefect_server: str, clean_run, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if shutil.which("apt-get") is None:
            pytest.skip("chromium is missing and apt-get is not available; run scripts/setup_test.sh")
        pytest.fail("chromium is missing: run scripts/setup_test.sh (make test does) to install Debian's chromium")
    fid = clean_run.run.flow_run_id
    with _client(prefect_server) as client:
        name = client.read_flow_run(fid).name
    url = prefect_server.removesuffix("/api") + f"/runs/flow-run/{fid}"
    dom = _chromium(["--dump-dom", url], tmp_path / "profile")
    assert name in dom.stdout, f"flow-run name {name!r} not in the UI's DOM ({len(dom.stdout)} chars):\n" \
                               f"{dom.stdout[:2000]}\n{dom.stderr[-2000:]}"
    text = " ".join(re.sub(r"<[^>]+>", " ", dom.stdout).split())
    assert "Completed" in text and f"{N_CLIPS} Task runs" in text, text[-1500:]
    shot = REPO / "test-artifacts" / "prefect_flow_run.png"
    shot.parent.mkdir(exist_ok=True)
    shot.unlink(missing_ok=True)
    _chromium([f"--screenshot={shot}", url], tmp_path / "profile2")
    assert shot.exists() and shot.stat().st_size > 10_000, "no screenshot"
