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

from cli.app import app, console, csv_list, err_console
from flows.request import DATA_ENV, DEFAULT_STORE, ExtractRequest, default_root
from pipeline.backbone_specs import BACKBONES, BOX_MODES
from pipeline.datasets.registry import DATASET_NAMES
from schemas.errors import InputError


def _names(value: str | None) -> tuple[str, ...] | None:
    """A comma list option as the request's tuple (None when not given)."""
    names = csv_list(value)
    return tuple(names) if names else None


@app.command()
def extract(
    dataset: Annotated[str, typer.Option(help=f"Dataset adapter: {', '.join(DATASET_NAMES)}.")],
    root: Annotated[Path | None, typer.Option(help=f"Raw dataset root in its original layout (README 'Raw data "
                                              f"layouts') [default: ${DATA_ENV}/DATASET, else ./data/DATASET].",
                                              show_default=False)] = None,
    store: Annotated[Path, typer.Option(help="Store directory (created if missing; reruns resume).")
                     ] = Path(DEFAULT_STORE),
    backbone: Annotated[str, typer.Option(help=f"{' | '.join(BACKBONES)} (mmpose top-down, 256x192).")
                        ] = "hrnet32",
    checkpoint: Annotated[Path | None, typer.Option(help="mmpose (or original HRNet) checkpoint .pth.")] = None,
    subjects: Annotated[str | None, typer.Option(help="Comma-separated subjects, e.g. S1,S5.")] = None,
    actions: Annotated[str | None, typer.Option(help="Comma-separated actions.")] = None,
    frame_stride: Annotated[int, typer.Option(help="Keep every K-th frame (5 = 10 fps on H36M).")] = 1,
    workers: Annotated[int | None, typer.Option(help="Dask workers of the local cluster.")] = None,
    dask_address: Annotated[str | None, typer.Option(help="Join an existing Dask scheduler (tcp://HOST:PORT).")] = None,
    gpus_per_worker: Annotated[int, typer.Option(help="GPU resources each backbone task requires.")] = 0,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N")] = "cpu",
    flip: Annotated[bool, typer.Option(help="Also store maps of the horizontally flipped crop.")] = False,
    batch_size: Annotated[int, typer.Option(help="Crops per backbone forward.")] = 8,
    box: Annotated[str, typer.Option(help=f"Crop box: {' | '.join(BOX_MODES)} (GT root +-1 m, CA-PF | GT 2D bbox "
                                     "x1.25) | FILE.npz of user boxes, one (L, 4) x0,y0,x1,y1 px array per clip "
                                     "key.")] = "root",
    retries: Annotated[int, typer.Option(help="Retries per failed clip before it is reported.")] = 1,
    encoding: Annotated[str | None, typer.Option("--encoding", "--codec", help=(
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
    video_decode: Annotated[str, typer.Option(help="Where videos are decoded: cpu (PyAV, the default) or cuda "
                                              "(NVDEC, needs an NVIDIA GPU).")] = "cpu",
) -> None:
    """Run the backbone once over a dataset and cache 2D detections, feature maps and 3D targets (Prefect flow)."""
    req = ExtractRequest(
        dataset=dataset, root=str(root if root is not None else default_root(dataset)), store=str(store),
        backbone=backbone, checkpoint=str(checkpoint) if checkpoint else None, device=device,
        subjects=_names(subjects), actions=_names(actions), frame_stride=frame_stride, flip=flip,
        batch_size=batch_size, box=box, retries=retries, encoding=encoding, shard_rows=shard_rows, workers=workers,
        dask_address=dask_address, gpus_per_worker=gpus_per_worker, torch_threads=torch_threads,
        joint_features=joint_features, joint_keypoints=joint_keypoints, video_decode=video_decode).validate()
    if req.checkpoint is None:
        console.print(Panel(f"[bold]--backbone {backbone} has no --checkpoint: weights are RANDOMLY INITIALISED.[/]\n"
                            "Maps and 2D detections are not a trained detector's; the store records this. "
                            "Pass --checkpoint FILE for real features.", style="yellow", title="random init"))
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
        elif event == "note":
            progress.console.print(f"[yellow]note:[/] {p['note']}", highlight=False)

    from flows.launch import run_extract

    with progress:
        summary = run_extract(req, on_event, say=lambda m: progress.console.print(m, highlight=False),
                              verbose=verbose)
    if summary_json:
        summary_json.write_text(json.dumps(summary, indent=1))
    _print_summary(summary)
    if summary["failures"]:
        raise typer.Exit(1)


def _print_summary(s: dict) -> None:
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
        console.print(f"[yellow]{sk.get('kind', 'skipped')}[/] {sk['source']}: {sk['reason']}", highlight=False)
    if s["failures"]:
        f = Table(title="failed clips (rerun the same command to retry them)")
        for col in ("failed clip", "source", "error"):
            f.add_column(col, overflow="fold")  # whole paths, wrapped, never cut with "…"
        for x in s["failures"]:
            f.add_row(x["clip"], x["source"], x["error"])
        err_console.print(f)
    if s.get("log"):
        console.print(f"Prefect's logs of this run (tracebacks of failed clips): {s['log']}", highlight=False,
                      soft_wrap=True)
    if s.get("ephemeral_api"):  # its link would point at nothing
        console.print("The temporary Prefect server of this run has stopped; to browse runs in the Prefect UI, start "
                      "`pipeline server` and export PREFECT_API_URL before extracting.", highlight=False)
    elif s.get("flow_run_id"):
        ui = s["prefect_api"].removesuffix("/api")
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
