"""The per-clip unit of work: stage functions in, store writes out (no Prefect here, so it is testable alone).

A clip's GT rows are written first, then its backbone outputs stream through a ClipWriter; each status flips
to DONE only after its data is written, so a killed run never leaves a half-written clip marked done.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from flows.request import BackboneRequest, ExtractOptions
from pipeline.backbones import Backbone, RandomInitWarning, build_backbone
from pipeline.clip import Clip
from pipeline.crops import crop_affine
from pipeline.extract_clip import clip_boxes, extract_clip
from pipeline.frame_check import fit_frame_size
from pipeline.joint_features import derive_joint_features
from schemas.arrays import DONE
from schemas.errors import InputError
from storage.store import Store


def set_threads(n: int) -> None:
    """Limit torch's intra-op threads in this process (each Dask worker gets its share of the cores)."""
    if n > 0:
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)


def keep_freed_memory() -> None:
    """Let glibc keep freed memory in this process (trim above 256 MiB, mmap only blocks >= 32 MiB).

    Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins the mmap threshold at 128 KiB:
    every large tensor the backbone allocates is then mmap'ed, page-faulted and unmapped again, ~0.3 core-s of
    system time per frame (HRNet-W32, measured: 2.5 s of 6 s per 8-frame clip). Idempotent; no-op off glibc."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
        except OSError:  # not glibc (e.g. musl)
            return
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)  # glibc's largest allowed mmap threshold on 64-bit
        libc.mallopt(_M_TRIM_THRESHOLD, 256 * 2**20)


@dataclass
class ClipResult:
    clip_index: int
    key: str
    rows: int
    seconds: float
    skipped: bool = False
    note: str | None = None  # an input difference that was handled (frame size within tolerance), said once


_CACHE: dict[BackboneRequest, Backbone] = {}


def get_backbone(req: BackboneRequest) -> Backbone:
    """Build a backbone once per process (workers reuse it across clips)."""
    if req not in _CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RandomInitWarning)  # the CLI says it once, loudly
            _CACHE[req] = build_backbone(req.name, req.checkpoint_path, req.device)
    return _CACHE[req]


def user_clip_boxes(box: str, clip: Clip) -> tuple[str, np.ndarray | None]:
    """`--box` is root | kp2d | a .npz of user boxes keyed by clip key ('S1/Directions 1/54138969'), each (L, 4)
    x0, y0, x1, y1 px. Returns (mode, boxes or None)."""
    if not box.endswith(".npz"):
        return box, None
    with np.load(box) as data:
        if clip.key not in data:
            raise InputError(f"--box {box}: no boxes for clip {clip.key!r} (keys look like "
                             f"{next(iter(data.files), 'S1/Directions 1/54138969')!r}); add an (L, 4) array for it")
        return "root", np.asarray(data[clip.key], dtype=np.float32)


def gt_rows(clip: Clip, boxes: np.ndarray, input_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """The clip's ROW_ARRAYS (but `clip`) and optional rows from its annotations and its (L, 4) crop boxes."""
    return {"frame": clip.frame.astype(np.int32), "person": clip.person.astype(np.int32),
            "camera": clip.camera.astype(np.int32), "valid": clip.valid.astype(bool),
            "bbox": boxes.astype(np.float32), "affine": crop_affine(boxes, input_hw).astype(np.float32),
            "kp2d_gt": clip.kp2d_gt.astype(np.float32), "pose3d_cam": clip.pose3d_cam.astype(np.float32),
            **clip.optional_rows()}


def process_clip(store_path: str, dataset: str, clip_index: int, clip: Clip, req: BackboneRequest,
                 opts: ExtractOptions) -> ClipResult:
    """Write one clip's GT rows and backbone outputs into the store; skip what is already DONE."""
    t0 = time.perf_counter()
    ds = Store.open(store_path, mode="r+").dataset(dataset)
    rows_done = ds.clip_status(clip_index) == DONE
    bb_done = ds.clip_status(clip_index, req.name) == DONE
    jf_done = not opts.joint_features or ds.group[f"backbones/{req.name}/joints/status"][clip_index] == DONE
    if rows_done and bb_done and jf_done:
        return ClipResult(clip_index, clip.key, clip.length, 0.0, skipped=True)
    backbone = get_backbone(req)
    note = None
    if not (rows_done and bb_done):  # the decoded frame size against the camera's, before any box is made
        clip, note = fit_frame_size(clip.decoded_on(opts.video_decode))
        boxes = clip_boxes(clip, *user_clip_boxes(opts.box, clip))  # once: the rows and the crops use the same
    if not rows_done:
        ds.write_clip(clip_index, gt_rows(clip, boxes, backbone.input_size))
    if not bb_done:
        writer = ds.backbone_writer(req.name, clip_index)
        for batch in extract_clip(clip, backbone, batch_size=opts.batch_size, boxes=boxes, flip=opts.flip,
                                  device=req.device):
            writer.append({k: batch[k] for k in writer.names})
        writer.close()
    if not jf_done:  # sampled from the maps just written (the same code as `pipeline derive`)
        derive_joint_features(store_path, req.name, opts.joint_keypoints, dataset, clips=[clip_index])
    return ClipResult(clip_index, clip.key, clip.length, time.perf_counter() - t0, note=note)
