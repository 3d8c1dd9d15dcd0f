"""Prefect flow `extract`: plan -> one task per clip on a Dask cluster -> finalize (consolidate, summary)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from prefect import flow, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.futures import as_completed
from prefect.states import Failed

from flows.plan import make_plan
from flows.request import ExtractRequest
from flows.runner import ResourceDaskTaskRunner
from flows.work import BackboneRequest, ExtractOptions, process_clip
from pipeline.datasets.base import FAILED
from schemas.errors import CacheError
from storage.audit import store_info
from storage.lock import StoreLock
from storage.store import Store

PROGRESS_EVERY_S = 5.0  # the progress artifact is updated at most this often (each update is a Prefect API call)

# The CLI sets this to drive its progress bar: listener(event, payload). Not a flow parameter (not serializable).
_listener: Callable[[str, dict], None] | None = None


def set_listener(fn: Callable[[str, dict], None] | None) -> None:
    global _listener
    _listener = fn


def _emit(event: str, **payload) -> None:
    if _listener is not None:
        _listener(event, payload)


@dataclass
class ExtractSummary:
    store: str
    dataset: str
    backbone: str
    clips_total: int
    clips_skipped: int
    clips_done: int
    frames: int
    seconds: float
    frames_per_s: float
    map_bytes_written: int
    map_ratio_vs_raw_fp16: float | None
    failures: list[dict] = field(default_factory=list)
    adapter_skips: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # handled input differences, each said once
    workers: dict[str, int] = field(default_factory=dict)
    dashboard: str | None = None
    flow_run_id: str | None = None

    def markdown(self) -> str:
        ratio = f"{self.map_ratio_vs_raw_fp16:.3f}x" if self.map_ratio_vs_raw_fp16 else "-"
        lines = ["| clips | frames | frames/s | bytes written (maps) | compression vs raw fp16 | failures |",
                 "|---|---|---|---|---|---|",
                 f"| {self.clips_done} done + {self.clips_skipped} already done / {self.clips_total} | {self.frames} "
                 f"| {self.frames_per_s:.2f} | {self.map_bytes_written:,} | {ratio} | {len(self.failures)} |"]
        if self.failures:
            lines += ["", "| failed clip | error |", "|---|---|"]
            lines += [f"| {f['clip']} | {f['error'].replace('|', '/')} |" for f in self.failures]
        if self.workers:
            lines += ["", "| Dask worker | clips |", "|---|---|"]
            lines += [f"| {w} | {n} |" for w, n in sorted(self.workers.items())]
        if self.dashboard:
            lines += ["", f"Dask dashboard: {self.dashboard}"]
        return "\n".join(lines)


@task(name="process-clip", cache_policy=NO_CACHE, task_run_name="clip-{clip_index}")
def process_clip_task(store: str, dataset: str, clip_index: int, clip, req: BackboneRequest,
                      opts: ExtractOptions) -> dict:
    """Runs on a Dask worker; returns the result plus where it ran (worker address and its resources)."""
    from distributed import get_worker

    from flows.work import keep_freed_memory, set_threads

    keep_freed_memory()
    set_threads(opts.torch_threads)
    res = process_clip(store, dataset, clip_index, clip, req, opts)
    try:
        w = get_worker()
        where = {"worker": w.address, "worker_resources": dict(w.state.total_resources)}
    except ValueError:  # not on a Dask worker (e.g. a thread runner in tests)
        where = {"worker": f"pid-{os.getpid()}", "worker_resources": {}}
    return {**asdict(res), **where}


def _warm_up(req: BackboneRequest, torch_threads: int) -> None:
    """Runs on each worker: import torch and build the backbone while the flow process plans."""
    from flows.work import get_backbone, keep_freed_memory, set_threads

    keep_freed_memory()
    set_threads(torch_threads)
    get_backbone(req)


def start_workers(runner: object, req: BackboneRequest, torch_threads: int) -> str | None:
    """Start the runner's cluster now and warm its (resource-matching) workers up, without waiting.

    Returns the Dask dashboard link (None for a runner that is not a ResourceDaskTaskRunner, e.g. in tests)."""
    if not isinstance(runner, ResourceDaskTaskRunner):
        return None
    client, need = runner.client, runner.task_resources
    workers = [a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()
               if all(w.get("resources", {}).get(k, 0) >= v for k, v in need.items())]
    from distributed import fire_and_forget

    for addr in workers:  # a plain Dask task pinned to each worker, queued ahead of the clip tasks
        fire_and_forget(client.submit(_warm_up, req, torch_threads, workers=[addr], pure=False, priority=10,
                                      key=f"warm-up-{addr}-{time.time_ns()}"))
    return runner.dashboard_link


@flow(name="extract")
def extract_flow(request: ExtractRequest) -> dict | Failed:
    """Extract a dataset into a store: plan, map clips over the Dask cluster, finalize. Resumable."""
    t0 = time.perf_counter()
    r = request
    dataset, store, backbone = r.dataset, r.store, r.backbone
    req, opts = r.backbone_request(), r.clip_options()
    with StoreLock(store):
        dashboard = start_workers(get_run_context().task_runner, req, r.torch_threads)
        _emit("cluster", dashboard=dashboard)
        kw = {k: v for k, v in (("codec", r.encoding), ("shard_rows", r.shard_rows)) if v is not None}
        try:
            plan = make_plan(dataset, r.root, store, req, flip=r.flip, **r.clip_filters(), **kw)
            if r.joint_features:  # created once here, before the clip tasks write into it
                Store.open(store, mode="r+").dataset(dataset).add_joint_features(backbone, r.joint_keypoints)
        except CacheError as e:  # a user error: fail the run with its message, no traceback
            return Failed(message=str(e))
        _emit("planned", total=plan.total_clips, done=plan.done_clips, todo=len(plan.clips),
              frames=sum(c.length for _, c in plan.clips))
        if dashboard:
            create_link_artifact(dashboard, link_text="Dask dashboard", key="dask-dashboard",
                                 description="Dask dashboard of this extraction run")
        progress_id = create_progress_artifact(0.0, key="extract-progress",
                                               description=f"{dataset}: clips done / total")
        task_fn = process_clip_task.with_options(retries=r.retries, retry_delay_seconds=0)
        futures = {task_fn.submit(store, dataset, i, clip, req, opts): (i, clip) for i, clip in plan.clips}
        done, finished = plan.done_clips, 0
        frames = 0
        failures: list[dict] = list(plan.failures)  # annotation files that failed at planning, each with its clips
        for f in failures:
            _emit("failed", clip=f["clip"], error=f["error"])
        notes: list[str] = []
        workers: dict[str, int] = {}
        ds = Store.open(store, mode="r+").dataset(dataset)
        shown = time.monotonic()
        for fut in as_completed(list(futures)):
            i, clip = futures[fut]
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - every failure is reported, the others land
                ds.mark_failed(i, backbone)
                failures.append({"clip": clip.key, "source": clip.source, "error": f"{type(e).__name__}: {e}"})
                _emit("failed", clip=clip.key, error=str(e))
            else:
                done += 1
                frames += clip.length
                workers[res["worker"]] = workers.get(res["worker"], 0) + 1
                if res["note"] and all(n.split(" (e.g.")[0] != res["note"].split(" (e.g.")[0] for n in notes):
                    notes.append(res["note"])
                    _emit("note", note=res["note"])
                _emit("clip", clip=clip.key, rows=clip.length, seconds=res["seconds"])
            finished += 1
            if finished == len(plan.clips) or time.monotonic() - shown >= PROGRESS_EVERY_S:
                update_progress_artifact(progress_id, 100.0 * finished / max(1, len(plan.clips)))
                shown = time.monotonic()
        Store.open(store, mode="r+").consolidate()
        info = store_info(store)["datasets"][dataset]["backbones"][backbone]
    seconds = time.perf_counter() - t0
    summary = ExtractSummary(
        store=str(store), dataset=dataset, backbone=backbone, clips_total=plan.total_clips,
        clips_skipped=plan.done_clips, clips_done=done - plan.done_clips, frames=frames, seconds=round(seconds, 2),
        frames_per_s=round(frames / seconds, 3) if seconds else 0.0, map_bytes_written=info["map_stored_bytes"],
        map_ratio_vs_raw_fp16=info["map_ratio_vs_raw_fp16"], failures=failures, notes=notes,
        adapter_skips=[{"source": str(s.source), "reason": s.reason, "kind": s.kind} for s in plan.skips
                       if s.kind != FAILED], workers=workers,
        dashboard=dashboard, flow_run_id=str(get_run_context().flow_run.id))
    create_markdown_artifact(summary.markdown(), key="extract-summary", description=f"extract {dataset} summary")
    _emit("finished", summary=asdict(summary))
    return asdict(summary)
