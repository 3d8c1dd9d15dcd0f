"""Flow benchmark: the Prefect flow on 1 vs 2 local Dask workers, and the flow's overhead vs the stage functions.

Same synthetic H36M clips in every configuration, a fresh store each time:
- direct: `flows.plan.make_plan` + `flows.work.process_clip` per clip in a fresh process (no Prefect, no Dask);
- flow-1w: `extract_flow` on a LocalCluster of 1 worker process; flow-2w: 2 worker processes;
- torch threads per worker are fixed (--threads) so 1 vs 2 workers compares processes, not thread settings.
The Prefect server is started once first (a real `prefect server start`, temporary PREFECT_HOME); its start-up is
reported separately and excluded from the flow timings. Flow timings are wall time of the flow call (cluster start,
worker start-up and model build included: that is what a user pays per run).

    .venv/bin/python bench/flow_bench.py [--frames 8] [--clips-cameras 2] [--threads 1]
Writes bench/out/flow_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))


def start_server(home: Path, port: int) -> tuple[subprocess.Popen, float]:
    """A real Prefect server; returns (process, seconds until /api/health answers)."""
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):  # noqa: S310
                return proc, time.perf_counter() - t0
        except OSError:
            if proc.poll() is not None or time.perf_counter() - t0 > 300:
                raise RuntimeError("the Prefect server did not start") from None
            time.sleep(0.3)


DIRECT = """
import json, sys, time
t0 = time.perf_counter()
from flows.plan import make_plan
from flows.work import BackboneRequest, ExtractOptions, process_clip, set_threads
set_threads(int(sys.argv[3]))
req = BackboneRequest("hrnet32")
plan = make_plan("h36m", sys.argv[1], sys.argv[2], req)
t1 = time.perf_counter()
clips = []
for i, clip in plan.clips:
    t = time.perf_counter()
    process_clip(sys.argv[2], "h36m", i, clip, req, ExtractOptions())
    clips.append(time.perf_counter() - t)
print(json.dumps({"total_s": time.perf_counter() - t0, "startup_plan_s": t1 - t0, "clip_s": clips}))
"""


def run_direct(raw: Path, store: Path, threads: int) -> dict:
    """The stage functions without Prefect or Dask, in a fresh process (imports and model build included)."""
    out = subprocess.run([sys.executable, "-c", DIRECT, str(raw), str(store), str(threads)], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_flow(raw: Path, store: Path, workers: int, threads: int) -> dict:
    """The flow on a fresh LocalCluster; also the times at which clips completed (seconds from the flow call)."""
    import dataclasses

    from flows.extract import extract_flow, set_listener
    from flows.request import ExtractRequest
    from flows.runner import build_task_runner

    req = ExtractRequest(dataset="h36m", root=str(raw), store=str(store), workers=workers, torch_threads=threads)
    runner, threads = build_task_runner(req)
    marks: list[float] = []
    t0 = time.perf_counter()
    set_listener(lambda event, _p: marks.append(time.perf_counter() - t0) if event == "clip" else None)
    try:
        state = extract_flow.with_options(task_runner=runner)(dataclasses.replace(req, torch_threads=threads),
                                                              return_state=True)
    finally:
        set_listener(None)
    seconds = time.perf_counter() - t0
    if not state.is_completed():
        raise RuntimeError(f"flow ended {state}")
    s = state.result()
    return {"seconds": seconds, "frames": s["frames"], "workers": s["workers"], "clip_marks_s": marks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8, help="mocap frames per clip")
    ap.add_argument("--cameras", type=int, default=2, help="cameras per action (2 actions)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker / direct process")
    args = ap.parse_args()
    from pipeline.datasets.h36m_cameras import CAMERA_IDS
    from pipeline.synth.h36m import synth_h36m

    tmp = Path(tempfile.mkdtemp(prefix="ctxpose-flowbench-"))
    server = None
    try:
        raw = tmp / "raw"
        synth = synth_h36m(raw, subjects=["S1"], actions=["Directions 1", "Walking 1"], frames=args.frames,
                           cameras=list(CAMERA_IDS)[: args.cameras])
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server, server_s = start_server(tmp / "prefect_home", port)
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        import warnings

        warnings.filterwarnings("ignore", module="zarr")
        print(f"prefect server healthy after {server_s:.1f} s; {synth['videos']} clips, {synth['rows']} rows")
        res: dict = {"clips": synth["videos"], "rows": synth["rows"], "threads_per_worker": args.threads,
                     "cpu_count": os.cpu_count(), "load_avg_before": os.getloadavg(),
                     "prefect_server_start_s": round(server_s, 2)}
        d = run_direct(raw, tmp / "direct.zarr", args.threads)
        res["direct_fresh_process_s"] = round(d["total_s"], 2)
        res["direct_startup_plan_s"] = round(d["startup_plan_s"], 2)
        res["direct_clip_s"] = [round(x, 2) for x in d["clip_s"]]
        print(f"direct (fresh process) {d['total_s']:.1f} s, of which imports+plan {d['startup_plan_s']:.1f} s")
        for n in (1, 2):
            r = run_flow(raw, tmp / f"flow{n}.zarr", n, args.threads)
            res[f"flow_{n}w_s"] = round(r["seconds"], 2)
            res[f"flow_{n}w_workers"] = r["workers"]
            res[f"flow_{n}w_clip_marks_s"] = [round(x, 2) for x in r["clip_marks_s"]]
            print(f"flow {n} worker(s) {r['seconds']:.1f} s, clips per worker {r['workers']}")
        # whole run: the flow (fresh cluster) vs the stage functions in a fresh process
        res["flow_overhead_vs_direct"] = round(res["flow_1w_s"] / res["direct_fresh_process_s"] - 1, 3)
        # steady state, one clip: interval between clip completions on 1 worker vs the direct per-clip time
        marks = res["flow_1w_clip_marks_s"]
        steps = sorted(b - a for a, b in zip(marks, marks[1:], strict=False))
        direct = sorted(res["direct_clip_s"][1:])  # the first direct clip pays first-forward warm-up
        if steps and direct:
            res["flow_per_clip_s_median"] = steps[len(steps) // 2]
            res["direct_per_clip_s_median"] = direct[len(direct) // 2]
            res["flow_per_clip_overhead"] = round(res["flow_per_clip_s_median"] / res["direct_per_clip_s_median"] - 1,
                                                  3)
        res["speedup_2w_vs_1w"] = round(res["flow_1w_s"] / res["flow_2w_s"], 3)
        res["load_avg_after"] = os.getloadavg()
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "flow_bench.json").write_text(json.dumps(res, indent=1))
        print(json.dumps({k: v for k, v in res.items() if not k.endswith("marks_s")}, indent=1))
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":  # LocalCluster worker processes are spawned: they re-import this module
    main()
