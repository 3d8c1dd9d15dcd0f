"""CLI commands `pipeline synth` (synthetic raw datasets) and `pipeline cameras` (the camera table an adapter uses)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.app import app, console, csv_list
from schemas.errors import InputError


@app.command("synth")
def synth_cmd(
    dataset: Annotated[str, typer.Option("--dataset", help="h36m, 3dhp or muco")],
    out: Annotated[Path, typer.Option("--out", help="folder to write the raw layout into")],
    subjects: Annotated[str | None, typer.Option(help="comma list; h36m default S1,S9; 3dhp default S1,TS1")] = None,
    actions: Annotated[str | None, typer.Option(
        help="comma list; h36m file names ('Directions 1,Walking 1'), 3dhp sequences (Seq1,Seq2), muco folders")
    ] = None,
    frames: Annotated[int, typer.Option(help="mocap frames per sequence (muco: images per folder)")] = 16,
    seed: Annotated[int, typer.Option(help="random seed; output is deterministic for a seed")] = 0,
    size: Annotated[int | None, typer.Option(help="image size (3dhp train, muco only; default 1024)")] = None,
) -> None:
    """Write a synthetic raw dataset in the original layout (real video codecs and annotation formats)."""
    from pipeline.synth import synth_dataset

    t0 = time.perf_counter()
    summary = synth_dataset(dataset, out, csv_list(subjects), csv_list(actions), frames, seed, size)
    console.print(f"[green]synth {dataset}[/]: {summary} in {time.perf_counter() - t0:.1f} s")


@app.command("cameras")
def cameras_cmd(
    dataset: Annotated[str, typer.Argument(help="h36m, 3dhp or muco")],
    root: Annotated[Path | None, typer.Option(help="raw dataset root (else the built-in table)")] = None,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Print the camera table the adapter uses (f, c px; k, p Brown/OpenCV; R_w2c, t_w2c mm; image size)."""
    from pipeline.datasets.registry import get_adapter

    if format not in ("table", "json"):
        raise InputError(f"--format must be 'table' or 'json', got {format!r}")
    rows = get_adapter(dataset).camera_table(root)
    if format == "json":
        print(json.dumps(rows, indent=1))
        return
    if not rows:
        console.print(f"{dataset}: no built-in cameras (per-image intrinsics); pass --root to list them")
        return
    table = Table(title=f"{dataset} cameras ({'built-in' if root is None else root})")
    for col in ("subject", "camera", "f", "c", "k", "p", "centre (world mm)", "size"):
        table.add_column(col)
    import numpy as np

    for r in rows:
        centre = -np.asarray(r["R_w2c"]).T @ np.asarray(r["t_w2c"])
        subject = r["subject"] + (f"/{r['sequence']}" if "sequence" in r else "")
        fmt = lambda v, d: ", ".join(f"{x:.{d}f}" for x in v)  # noqa: E731
        table.add_row(subject, r["camera"], fmt(r["f"], 1), fmt(r["c"], 1), fmt(r["k"], 4), fmt(r["p"], 5),
                      fmt(centre, 0), f"{r['width']}x{r['height']}")
    console.print(table)
