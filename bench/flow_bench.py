"""Flow benchmark: the Prefect flow on 1 vs 2 local Dask workers, and the flow's overhead vs the stage functions.

Same synthetic H36M clips in every configuration, a fresh store each time:
- direct: `flows.plan.make_plan` + `flows.work.process_clip` per clip in a fresh process (no Prefect, no Dask);
- flow-1w: `extract_flow` on a LocalCluster of 1 worker process; flow-2w: 2 worker processes;
- torch threads per worker are fixed (--threads) so 1 vs 2 workers compares processes, not thread settings.
The Prefect server is started once first (a real `prefect server start`, temporary PREFECT_HOME); its start-up is
reported separately and excluded from the flow timings. Flow timings are wall time of the flow call (cluster start,
worker start-up and model build included: that is what a user pays per run).

    .venv/bin/python bench/flow_bench.py [--frames 8] [--cameras 2] [--threads 1] [--rounds 1] [--configs direct,1w,2w]
        [--api-url URL]
Per clip, the flow's overhead is measured on 1 worker as (interval between clip completions - the clip's own work,
timed inside the task), so it does not depend on how fast the shared CPU happens to run the backbone.
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
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env.pop("MALLOC_TRIM_THRESHOLD_", None)  # a LocalCluster's nanny leaks it into this process's environment
    out = subprocess.run([sys.executable, "-c", DIRECT, str(raw), str(store), str(threads)], cwd=ROOT, check=True,
                         capture_output=True, text=True, env=env)
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
    work: list[float] = []

    def on_event(event: str, payload: dict) -> None:
        if event == "clip":
            marks.append(time.perf_counter() - t0)
            work.append(payload["seconds"])

    set_listener(on_event)
    try:
        state = extract_flow.with_options(task_runner=runner)(dataclasses.replace(req, torch_threads=threads),
                                                              return_state=True)
    finally:
        set_listener(None)
    seconds = time.perf_counter() - t0
    if not state.is_completed():
        raise RuntimeError(f"flow ended {state}")
    s = state.result()
    return {"seconds": seconds, "frames": s["frames"], "workers": s["workers"], "clip_marks_s": marks,
            "clip_work_s": work}


CONFIGS = ("direct", "1w", "2w")


def _median(xs: list[float]) -> float | None:
    xs = sorted(xs)
    return round(xs[len(xs) // 2], 3) if xs else None


def one_round(raw: Path, tmp: Path, rnd: int, threads: int, configs: tuple[str, ...] = CONFIGS) -> dict:
    """The chosen configurations (direct, flow 1 worker, flow 2 workers), back to back (fresh stores); per-clip figures
    skip the first clip (first forward pass warm-up). Figures of a configuration not run are left out."""
    res: dict = {"load_avg_before": [round(x, 2) for x in os.getloadavg()]}
    if "direct" in configs:
        d = run_direct(raw, tmp / f"direct{rnd}.zarr", threads)
        res["direct_s"], res["direct_startup_plan_s"] = round(d["total_s"], 2), round(d["startup_plan_s"], 2)
        res["direct_clip_s"] = [round(x, 2) for x in d["clip_s"]]
        res["work_per_clip_direct_s"] = _median(res["direct_clip_s"][1:])
    for n in (1, 2):
        if f"{n}w" not in configs:
            continue
        r = run_flow(raw, tmp / f"flow{rnd}_{n}.zarr", n, threads)
        marks = r["clip_marks_s"]
        res[f"flow_{n}w_s"], res[f"flow_{n}w_workers"] = round(r["seconds"], 2), r["workers"]
        res[f"flow_{n}w_clip_marks_s"] = [round(x, 2) for x in marks]
        res[f"flow_{n}w_clip_work_s"] = [round(x, 2) for x in r["clip_work_s"]]
        # steady-state rate: clips completed per second after the first one completed
        res[f"flow_{n}w_clips_per_s"] = round((len(marks) - 1) / (marks[-1] - marks[0]), 4)
    if "1w" in configs:
        marks, work = res["flow_1w_clip_marks_s"], res["flow_1w_clip_work_s"]
        # one worker runs clips one after the other: interval between completions = the clip's work + the overhead
        res["overhead_per_clip_s"] = _median([b - a - w for a, b, w in zip(marks, marks[1:], work[1:], strict=False)])
        res["work_per_clip_flow_s"] = _median(work[1:])
        res["overhead_share"] = round(res["overhead_per_clip_s"] / res["work_per_clip_flow_s"], 4)
    if "1w" in configs and "2w" in configs:
        res["speedup_2w_whole_run"] = round(res["flow_1w_s"] / res["flow_2w_s"], 3)
        res["speedup_2w_steady"] = round(res["flow_2w_clips_per_s"] / res["flow_1w_clips_per_s"], 3)
    res["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return res


SUMMARY = ("overhead_per_clip_s", "overhead_share", "work_per_clip_flow_s", "work_per_clip_direct_s", "direct_s",
           "flow_1w_s", "flow_2w_s", "speedup_2w_whole_run", "speedup_2w_steady")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8, help="mocap frames per clip")
    ap.add_argument("--cameras", type=int, default=2, help="cameras per action (2 actions)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker / direct process")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds (direct, 1 worker, 2 workers)")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="comma-separated subset of direct,1w,2w to run (the overhead per clip needs 1w)")
    ap.add_argument("--api-url", default=None, help="report to this running Prefect server instead of starting one")
    args = ap.parse_args()
    configs = tuple(c for c in args.configs.split(",") if c)
    if not configs or set(configs) - set(CONFIGS):
        ap.error(f"--configs {args.configs!r}: pass a comma-separated subset of {','.join(CONFIGS)}")
    from pipeline.datasets.h36m_cameras import CAMERA_IDS
    from pipeline.synth.h36m import synth_h36m

    tmp = Path(tempfile.mkdtemp(prefix="ctxpose-flowbench-"))
    server = None
    try:
        raw = tmp / "raw"
        synth = synth_h36m(raw, subjects=["S1"], actions=["Directions 1", "Walking 1"], frames=args.frames,
                           cameras=list(CAMERA_IDS)[: args.cameras])
        server_s = None
        if args.api_url:
            os.environ["PREFECT_API_URL"] = args.api_url
        else:
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            server, server_s = start_server(tmp / "prefect_home", port)
            os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
            print(f"prefect server healthy after {server_s:.1f} s")
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        import warnings

        warnings.filterwarnings("ignore", module="zarr")
        print(f"{synth['videos']} clips, {synth['rows']} rows")
        res: dict = {"clips": synth["videos"], "frames_per_clip": args.frames, "threads_per_worker": args.threads,
                     "cpu_count": os.cpu_count(), "configs": configs, "prefect_server_start_s": server_s, "rounds": []}
        for rnd in range(args.rounds):
            r = one_round(raw, tmp, rnd, args.threads, configs)
            res["rounds"].append(r)
            print(json.dumps({"round": rnd, "load": r["load_avg_before"], **{k: r[k] for k in SUMMARY if k in r}}))
        res["median"] = {k: _median([r[k] for r in res["rounds"]]) for k in SUMMARY if k in res["rounds"][0]}
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "flow_bench.json").write_text(json.dumps(res, indent=1))
        print("medians over rounds:", json.dumps(res["median"]))
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":  # LocalCluster worker processes are spawned: they re-import this module
    main()
