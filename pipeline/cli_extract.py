"""`pipeline extract` (the Prefect flow on Dask) and `pipeline server` (a local Prefect server + UI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.cli_app import app, console, err_console
from schemas.errors import InputError

DATASETS = ("h36m", "3dhp", "muco")


def _split(value: str | None) -> list[str] | None:
    return [s.strip() for s in value.split(",") if s.strip()] if value else None


def _check_dask_address(address: str, resources: dict[str, float] | None, timeout: float = 5.0) -> None:
    """Clear error within seconds if no Dask scheduler answers at `address`, or no worker has `resources`."""
    from distributed import Client

    try:
        with Client(address, timeout=timeout) as client:
            info = client.scheduler_info(n_workers=-1)["workers"]
    except (OSError, TimeoutError) as e:
        raise InputError(f"--dask-address {address}: no Dask scheduler answers ({type(e).__name__}); start one "
                         f"with `dask scheduler` and workers with `dask worker {address}`") from None
    if resources and not any(all(w.get("resources", {}).get(k, 0) >= v for k, v in resources.items())
                             for w in info.values()):
        need = ",".join(f"{k}={v}" for k, v in resources.items())
        raise InputError(f"--gpus-per-worker: no worker of {address} offers resources {need} ({len(info)} workers); "
                         f"start GPU workers with `dask worker {address} --nthreads 1 --resources {need}`, "
                         f"or drop --gpus-per-worker")


def build_task_runner(workers: int | None, dask_address: str | None, gpus_per_worker: int, device: str,
                      torch_threads: int = 0):
    """A ResourceDaskTaskRunner on an existing scheduler, or on a LocalCluster sized to the machine.

    Returns (runner, torch threads per task; 0 = leave the worker's default)."""
    from flows.runner import ResourceDaskTaskRunner

    resources = {"GPU": gpus_per_worker} if gpus_per_worker > 0 else None
    if dask_address:  # checked by the command (_check_dask_address) before the slow imports
        return ResourceDaskTaskRunner(address=dask_address, task_resources=resources), torch_threads
    cores = os.cpu_count() or 1
    if device == "cuda":
        import torch

        n = workers or max(1, torch.cuda.device_count())
    else:
        n = workers or 1  # one worker using every core: no second copy of the model, no duplicate decode
    threads = torch_threads or (max(1, cores // n) if device == "cpu" else 0)
    cluster_kwargs = {"n_workers": n, "threads_per_worker": 1, "processes": True, "dashboard_address": ":0",
                      "silence_logs": 40}
    if resources:
        cluster_kwargs["resources"] = resources
    return ResourceDaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster_kwargs,
                                  task_resources=resources), threads


@app.command()
def extract(
    dataset: Annotated[str, typer.Option(help=f"Dataset adapter: {', '.join(DATASETS)}.")],
    root: Annotated[Path, typer.Option(help="Raw dataset root in its original layout (README 'Raw data layouts').")],
    store: Annotated[Path, typer.Option(help="Store directory (created if missing; reruns resume).")],
    backbone: Annotated[str, typer.Option(help="hrnet32 | hrnet48 | res50 (mmpose top-down, 256x192).")] = "hrnet32",
    checkpoint: Annotated[Path | None, typer.Option(help="mmpose (or original HRNet) checkpoint .pth.")] = None,
    subjects: Annotated[str | None, typer.Option(help="Comma-separated subjects, e.g. S1,S5.")] = None,
    actions: Annotated[str | None, typer.Option(help="Comma-separated actions.")] = None,
    frame_stride: Annotated[int, typer.Option(help="Keep every K-th frame (5 = 10 fps on H36M).")] = 1,
    workers: Annotated[int | None, typer.Option(help="Dask workers of the local cluster.")] = None,
    dask_address: Annotated[str | None, typer.Option(help="Join an existing Dask scheduler (tcp://HOST:PORT).")] = None,
    gpus_per_worker: Annotated[int, typer.Option(help="GPU resources each backbone task requires.")] = 0,
    device: Annotated[str, typer.Option(help="cpu | cuda")] = "cpu",
    flip: Annotated[bool, typer.Option(help="Also store maps of the horizontally flipped crop.")] = False,
    batch_size: Annotated[int, typer.Option(help="Crops per backbone forward.")] = 8,
    box: Annotated[str, typer.Option(help="Crop box: root (GT root +-1 m, CA-PF) | kp2d (GT 2D bbox x1.25) | FILE.npz "
                                      "of user boxes, one (L, 4) x0,y0,x1,y1 px array per clip key.")] = "root",
    retries: Annotated[int, typer.Option(help="Retries per failed clip before it is reported.")] = 1,
    codec: Annotated[str | None, typer.Option("--codec", "--encoding", help=(
        "Map encoding (default from the benchmark): a lossless codec (blosc-zstd5, zstd3, ...), bitround-K "
        "(K=1..9 fp16 mantissa bits kept) or int8; see storage/encodings.py."))] = None,
    shard_rows: Annotated[int | None, typer.Option(help="Rows per shard (write unit).")] = None,
    torch_threads: Annotated[int, typer.Option(
        help="torch threads per task (0: cores / workers on CPU). 1 is far faster on a machine shared with other "
             "jobs.")] = 0,
    summary_json: Annotated[Path | None, typer.Option(help="Also write the run summary as JSON here.")] = None,
    verbose: Annotated[bool, typer.Option(help="Show Prefect's own logs.")] = False,
    joint_features: Annotated[bool, typer.Option("--joint-features", help="Also cache every level sampled at the "
                                                 "2D joints (joints/feat, read by capf-s).")] = False,
    joint_keypoints: Annotated[str, typer.Option(help="2D the joint features are sampled at: gt or the backbone's "
                                                 "name (its own detections).")] = "gt",
) -> None:
    """Run the backbone once over a dataset and cache 2D detections, feature maps and 3D targets (Prefect flow)."""
    if dataset not in DATASETS:
        raise InputError(f"--dataset {dataset!r} is unknown; valid names: {', '.join(DATASETS)}")
    if not root.exists():
        raise InputError(f"--root {root} does not exist; point it at the raw {dataset} data "
                         f"(or make synthetic data with `pipeline synth --dataset {dataset} --out {root}`)")
    if store.exists() and not store.is_dir():
        raise InputError(f"--store {store} is a file; pass a directory path for the store")
    if device not in ("cpu", "cuda"):
        raise InputError(f"--device must be cpu or cuda, got {device!r}")
    if box not in ("root", "kp2d") and not (box.endswith(".npz") and Path(box).is_file()):
        raise InputError(f"--box {box!r}: use root, kp2d or an existing .npz of user boxes (one (L, 4) array per "
                         f"clip key, e.g. 'S1/Directions 1/54138969')")
    if workers is not None and dask_address:
        raise InputError("pass either --workers (local cluster) or --dask-address (existing cluster), not both")
    if (workers is not None and workers < 1) or retries < 0 or torch_threads < 0 or gpus_per_worker < 0:
        raise InputError("--workers must be >= 1 and --retries, --torch-threads, --gpus-per-worker >= 0")
    if codec is not None:
        from storage.encodings import parse_encoding

        parse_encoding(codec)  # unknown names fail here, listing the valid ones
    if joint_keypoints not in ("gt", backbone):
        raise InputError(f"--joint-keypoints must be gt or {backbone!r} (the backbone's detections), "
                         f"got {joint_keypoints!r}")
    if dask_address:  # before anything slow: an unreachable scheduler fails within seconds
        with console.status(f"checking the Dask scheduler {dask_address} ..."):
            _check_dask_address(dask_address, {"GPU": gpus_per_worker} if gpus_per_worker else None)
    from storage.lock import StoreLock

    with StoreLock(store):  # refuse at once if another run writes this store; the flow re-enters it
        _run(dataset, root, store, backbone, checkpoint, subjects, actions, frame_stride, workers, dask_address,
             gpus_per_worker, device, flip, batch_size, box, retries, codec, shard_rows, torch_threads, verbose,
             summary_json, joint_features, joint_keypoints)


def _run(dataset: str, root: Path, store: Path, backbone: str, checkpoint: Path | None, subjects: str | None,
         actions: str | None, frame_stride: int, workers: int | None, dask_address: str | None, gpus_per_worker: int,
         device: str, flip: bool, batch_size: int, box: str, retries: int, codec: str | None,
         shard_rows: int | None, torch_threads: int, verbose: bool, summary_json: Path | None,
         joint_features: bool = False, joint_keypoints: str = "gt") -> None:
    """The extract command once the store is locked: Prefect API, Dask runner, the flow, the summary."""
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    with console.status("loading torch and the backbone registry ..."):
        from pipeline.backbones import BACKBONES, check_device

    if backbone not in BACKBONES:
        raise InputError(f"--backbone {backbone!r} is unknown; valid names: {', '.join(sorted(BACKBONES))}")
    check_device(device)
    if checkpoint is None:
        console.print(Panel(f"[bold]--backbone {backbone} has no --checkpoint: weights are RANDOMLY INITIALISED.[/]\n"
                            "Maps and 2D detections are not a trained detector's; the store records this. "
                            "Pass --checkpoint FILE for real features.", style="yellow", title="random init"))
    with console.status("connecting to Prefect (a temporary server starts if PREFECT_API_URL is unset) ..."):
        from flows.prefect_api import ensure_api

        url, ephemeral = ensure_api()
    console.print(f"Prefect API: {url}" + (" (temporary server for this run)" if ephemeral else ""))
    if ephemeral and dask_address:
        console.print("[yellow]PREFECT_API_URL is unset: the workers of --dask-address cannot reach this temporary "
                      "server; each worker process starts its own. Run `pipeline server` and export PREFECT_API_URL "
                      "for the scheduler's workers and this command.[/]")
    with console.status("loading Prefect and the flow ..."):
        runner, threads = build_task_runner(workers, dask_address, gpus_per_worker, device, torch_threads)
        from flows.extract import extract_flow, set_listener
    where = dask_address or f"local cluster, {runner.cluster_kwargs['n_workers']} worker process(es)"
    console.print(f"Dask: {where}, torch threads per task: {threads or 'worker default'}"
                  + (f", task resources {runner.task_resources}" if runner.task_resources else ""))
    console.print("planning (listing clips, allocating rows, building the backbone) and starting workers ...")

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console)
    bars: dict[str, int] = {}

    def on_event(event: str, p: dict) -> None:
        if event == "cluster" and p.get("dashboard"):
            progress.console.print(f"Dask dashboard: {p['dashboard']}", highlight=False)
        elif event == "planned":
            bars["clips"] = progress.add_task("clips ", total=p["total"], completed=p["done"])
            bars["frames"] = progress.add_task("frames", total=p["frames"])
        elif event == "clip":
            progress.advance(bars["clips"])
            progress.advance(bars["frames"], p["rows"])
        elif event == "failed":
            progress.console.print(f"[red]clip failed[/] {p['clip']}: {p['error']}", highlight=False)

    set_listener(on_event)
    params = dict(dataset=dataset, root=str(root), store=str(store), backbone=backbone,
                  checkpoint=str(checkpoint) if checkpoint else None, device=device, subjects=_split(subjects),
                  actions=_split(actions), frame_stride=frame_stride, flip=flip, batch_size=batch_size, box=box,
                  retries=retries, codec=codec, shard_rows=shard_rows, torch_threads=threads,
                  joint_features=joint_features, joint_keypoints=joint_keypoints)
    try:
        with progress:
            state = extract_flow.with_options(task_runner=runner)(**params, return_state=True)
    finally:
        set_listener(None)
    if state.is_failed():
        raise InputError(state.message or "the extract flow failed; rerun with --verbose for Prefect's logs")
    summary = state.result()
    if summary_json:
        summary_json.write_text(json.dumps(summary, indent=1))
    _print_summary(summary, url)
    if summary["failures"]:
        raise typer.Exit(1)


def _print_summary(s: dict, url: str) -> None:
    t = Table(title=f"extract {s['dataset']} -> {s['store']}", box=None)
    for col in ("clips done", "already done", "frames", "frames/s", "map bytes", "vs raw fp16", "failures"):
        t.add_column(col)
    ratio = f"{s['map_ratio_vs_raw_fp16']:.3f}x" if s["map_ratio_vs_raw_fp16"] else "-"
    t.add_row(f"{s['clips_done']}/{s['clips_total']}", str(s["clips_skipped"]), str(s["frames"]),
              f"{s['frames_per_s']:.2f}", f"{s['map_bytes_written']:,}", ratio, str(len(s["failures"])))
    console.print(t)
    if s.get("workers"):
        console.print("clips per Dask worker: " + ", ".join(f"{w} {n}" for w, n in sorted(s["workers"].items())),
                      highlight=False)
    for sk in s["adapter_skips"]:
        console.print(f"[yellow]skipped[/] {sk['source']}: {sk['reason']}", highlight=False)
    if s["failures"]:
        f = Table("failed clip", "source", "error", title="failed clips (rerun the same command to retry them)")
        for x in s["failures"]:
            f.add_row(x["clip"], x["source"], x["error"])
        err_console.print(f)
    ui = url.removesuffix("/api")
    if s.get("flow_run_id"):
        console.print(f"Prefect flow run: {ui}/runs/flow-run/{s['flow_run_id']}", highlight=False, soft_wrap=True)


@app.command()
def server(host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
           port: Annotated[int, typer.Option(help="Port of the API and UI.")] = 4200) -> None:
    """Start a local Prefect server (UI + API); then `export PREFECT_API_URL=http://HOST:PORT/api`."""
    prefect = shutil.which("prefect", path=str(Path(sys.executable).parent)) or shutil.which("prefect")
    if prefect is None:
        raise InputError("the `prefect` command is not installed in this environment; run `make setup`")
    console.print(f"Prefect UI: http://{host}:{port}   then in other shells: "
                  f"[bold]export PREFECT_API_URL=http://{host}:{port}/api[/]")
    env = {**os.environ, "PREFECT_UI_API_URL": f"http://{host}:{port}/api"}  # else the UI calls port 4200
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    raise typer.Exit(subprocess.call([prefect, "server", "start", "--host", host, "--port", str(port)], env=env))
