"""`pipeline inspect` (see one cached row) and `pipeline import-2d` (add a 2D detection source to a store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from cli.app import app, console
from schemas.errors import InputError


def _clip_frame(root: Path, dataset: str, clip_row, row_image_index: int) -> np.ndarray:
    """Re-decode the image a row was cropped from, through the dataset adapter."""
    from pipeline.datasets.registry import get_adapter

    clips, _ = get_adapter(dataset).list_clips(root, subjects=[clip_row.subject])
    key = (clip_row.subject, clip_row.action, clip_row.subaction, clip_row.camera)
    match = [c for c in clips if (c.subject, c.action, c.subaction, c.camera_id) == key]
    if not match:
        raise InputError(f"--root {root}: clip {'/'.join(key)} not found in the raw data")
    for i, img in enumerate(match[0].frames()):
        if i == row_image_index:
            return img
    raise InputError(f"{match[0].source}: image {row_image_index} not found")


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
    from pipeline.crops import apply_affine, warp_crops
    from pipeline.inspect_png import render_inspect
    from schemas.joints import JOINT_SETS
    from storage.reader import Reader

    rd = Reader(store, dataset=dataset, backbone=backbone)
    if rd.backbone is None:
        raise InputError(f"{store}: no backbone maps to inspect; run `pipeline extract` first")
    rd.keypoints = rd.backbone  # the detections drawn beside GT are this backbone's
    data = rd.read([row], maps=True)
    clip = rd.clip_table[int(data["clip"][0])]
    raw = root or Path(rd.attrs["source_root"])
    first = np.flatnonzero(rd.row_clip == clip.index)[0]
    frames = rd.read(np.arange(first, first + clip.length), fields=("frame", "person"))["frame"]
    image_index = int(np.searchsorted(np.unique(frames), data["frame"][0]))
    if raw.exists():
        img = _clip_frame(raw, rd.dataset, clip, image_index)
        crop = warp_crops([img], data["affine"], normalize=False)[0]
        crop = np.clip(crop.permute(1, 2, 0).numpy(), 0, 255).astype(np.uint8)
    else:
        console.print(f"[yellow]raw data {raw} not found: drawing on a blank crop (pass --root)[/]")
        crop = np.full((256, 192, 3), 96, np.uint8)
    A = data["affine"][0]
    js = JOINT_SETS[rd.attrs["joint_set"]]
    path = render_inspect(crop, apply_affine(A, data["kp2d_gt"][0]), apply_affine(A, data["kp2d"][0]), js.parents,
                          {lv: data[lv][0].astype(np.float32) for lv in rd.levels}, out,
                          title=f"row {row}: {clip.subject} {clip.action} {clip.subaction} cam {clip.camera} "
                                f"frame {int(data['frame'][0])} ({rd.backbone})")
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
