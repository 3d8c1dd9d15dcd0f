"""`pipeline derive`: compute compact arrays from what a store already holds (no backbone run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import app, console
from schemas.errors import InputError


@app.command()
def derive(
    store: Annotated[Path, typer.Argument(help="Path of the store (a directory).")],
    backbone: Annotated[str, typer.Option(help="Backbone whose stored maps are sampled.")],
    joint_features: Annotated[bool, typer.Option("--joint-features", help="Cache every level sampled at the 2D "
                                                 "joints: backbones/NAME/joints/feat (N, J, D) f16 (capf-s).")
                              ] = False,
    keypoints: Annotated[str, typer.Option(help="2D to sample at: gt, a backbone's name (its detections) or an "
                                           "imported source (`pipeline import-2d --name`, e.g. cpn as CA-PF-S).")
                         ] = "gt",
    dataset: Annotated[str | None, typer.Option(help="Dataset in the store (default: the only one).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Resample joint features already sampled at another "
                                          "2D source.")] = False,
) -> None:
    """Derive compact arrays from existing maps; resumable per clip (done clips are skipped)."""
    if not joint_features:
        raise InputError("pipeline derive: say what to derive; available: --joint-features")
    from pipeline.joint_features import derive_joint_features
    from storage.lock import StoreLock

    with StoreLock(store), console.status("sampling the stored maps at the joints ...") as status:
        res = derive_joint_features(str(store), backbone, keypoints, dataset,
                                    progress=lambda n, t: status.update(f"sampling clip {n}/{t} ..."),
                                    replace=replace)
    console.print(f"[green]done[/]: joint features of {res.done} clip(s), {res.rows} rows, sampled at "
                  f"{keypoints} 2D; {res.skipped} clip(s) already done -> {store}")
