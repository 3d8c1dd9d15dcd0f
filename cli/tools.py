"""`pipeline inspect` (see one cached row) and `pipeline import-2d` (add a 2D detection source to a store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import app, console
from schemas.errors import InputError


@app.command()
def inspect(
    store: Annotated[Path, typer.Argument(help="Store directory.")],
    row: Annotated[int, typer.Option(help="Global row index (see `pipeline info`).")],
    out: Annotated[Path, typer.Option(help="PNG file to write.")],
    dataset: Annotated[str | None, typer.Option(help="Dataset in the store (default: the only one).")] = None,
    backbone: Annotated[str | None, typer.Option(help="Backbone group (default: the only one).")] = None,
    root: Annotated[Path | None, typer.Option(help="Raw data root (default: the store's source root).")] = None,
) -> None:
    """Draw a cached row: its crop with GT and detected 2D skeletons, and the four feature levels."""
    from pipeline.inspect_row import inspect_row

    path, note = inspect_row(store, row, out, dataset=dataset, backbone=backbone, root=root)
    if note:
        console.print(f"[yellow]{note}[/]")
    console.print(f"wrote {path}")


@app.command("import-2d")
def import_2d(
    store: Annotated[Path, typer.Option(help="Store directory.")],
    npz: Annotated[Path, typer.Option(help="positions_2d[subject][action][camera] npz (VideoPose3D layout).")],
    name: Annotated[str, typer.Option(help="Name of the 2D source in the store, e.g. cpn.")],
    dataset: Annotated[str, typer.Option(help="Dataset group to align to.")] = "h36m",
) -> None:
    """Import 2D detections (e.g. CPN) aligned to the store's rows; reports truncations, refuses mismatches."""
    from pipeline.import2d import import_positions_2d

    if not npz.is_file():
        raise InputError(f"--npz {npz} does not exist")
    n_clips, n_rows, report = import_positions_2d(store, npz, name, dataset)
    for line in report:
        console.print(f"[yellow]{line}[/]", highlight=False)
    console.print(f"imported {name}: {n_clips} clips, {n_rows} rows into {store}/{dataset}")
