"""One cached row as a picture: re-decode its source image through the dataset adapter, warp the stored crop, draw
GT and detected skeletons and the feature levels (`pipeline inspect`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.crops import apply_affine, warp_crops
from pipeline.datasets.registry import get_adapter
from pipeline.inspect_png import render_inspect
from schemas.errors import InputError
from schemas.joints import JOINT_SETS
from storage.reader import Reader


def _clip_frame(root: Path, dataset: str, clip_row, row_image_index: int, frame_stride: int) -> np.ndarray:
    """Re-decode the image a row was cropped from, through the dataset adapter (with the store's frame stride, so
    image i of the clip is the i-th image its rows were cropped from)."""
    clips, _ = get_adapter(dataset).list_clips(root, subjects=[clip_row.subject], frame_stride=frame_stride)
    key = (clip_row.subject, clip_row.action, clip_row.subaction, clip_row.camera)
    match = [c for c in clips if (c.subject, c.action, c.subaction, c.camera_id) == key]
    if not match:
        raise InputError(f"--root {root}: clip {'/'.join(key)} not found in the raw data")
    for i, img in enumerate(match[0].frames()):
        if i == row_image_index:
            return img
    raise InputError(f"{match[0].source}: image {row_image_index} not found")


def inspect_row(store: Path, row: int, out: Path, dataset: str | None = None, backbone: str | None = None,
                root: Path | None = None) -> tuple[Path, str | None]:
    """Write the PNG of global row `row` to `out`; returns (path, a note for the user or None). The raw image comes
    from `root` (default: the store's recorded source root); without it the crop is blank."""
    rd = Reader(store, dataset=dataset, backbone=backbone)
    if rd.backbone is None:
        raise InputError(f"{store}: no backbone maps to inspect; run `pipeline extract` first")
    rd.keypoints = rd.backbone  # the detections drawn beside GT are this backbone's
    if not 0 <= row < rd.num_rows:
        raise InputError(f"--row {row} is out of range: {store}/{rd.dataset} has rows 0..{rd.num_rows - 1}")
    data = rd.read([row], maps=True)
    if int(data["clip"][0]) < 0:  # never written: shard padding after a clip, or a clip not extracted yet
        before = [c for c in rd.clip_table if c.start <= row]
        if before and row < before[-1].stop:
            raise InputError(f"--row {row} belongs to clip {before[-1].index}, which is not extracted yet; run "
                             "`pipeline extract` for it first")
        near = f"; the clip before it, {before[-1].index}, has rows {before[-1].start}..{before[-1].stop - 1}" \
            if before else ""
        raise InputError(f"--row {row} is padding between clips (rows no clip owns, never written){near}")
    clip = rd.clip_table[int(data["clip"][0])]
    raw = root or Path(rd.attrs["source_root"])
    first = np.flatnonzero(rd.row_clip == clip.index)[0]
    frames = rd.read(np.arange(first, first + clip.length), fields=("frame", "person"))["frame"]
    image_index = int(np.searchsorted(np.unique(frames), data["frame"][0]))
    note = None
    if raw.exists():
        img = _clip_frame(raw, rd.dataset, clip, image_index, int(rd.attrs.get("frame_stride", 1)))
        crop = warp_crops([img], data["affine"], normalize=False)[0]
        crop = np.clip(crop.permute(1, 2, 0).numpy(), 0, 255).astype(np.uint8)
    else:
        note = f"raw data {raw} not found: drawing on a blank crop (pass --root)"
        crop = np.full((256, 192, 3), 96, np.uint8)
    A = data["affine"][0]
    js = JOINT_SETS[rd.attrs["joint_set"]]
    path = render_inspect(crop, apply_affine(A, data["kp2d_gt"][0]), apply_affine(A, data["kp2d"][0]), js.parents,
                          {lv: data[lv][0].astype(np.float32) for lv in rd.levels}, out,
                          title=f"row {row}: {clip.subject} {clip.action} {clip.subaction} cam {clip.camera} "
                                f"frame {int(data['frame'][0])} ({rd.backbone})")
    return path, note
