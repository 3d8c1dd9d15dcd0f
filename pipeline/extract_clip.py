"""Run a backbone over one clip, streaming: decode -> crop -> backbone -> fp16 maps + 2D detections.

A producer thread decodes frames lazily from `clip.frames()`, computes the crops of the next row batch and puts
them on a bounded queue, so decode and warp overlap the backbone; memory holds at most a few batches (never the
whole clip). Rows map to decoded images through `clip.image` (several rows may share an image: MuCo).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.backbone_specs import BOX_MODES
from pipeline.backbones import Backbone
from pipeline.clip import Clip
from pipeline.crops import (
    box_from_kp2d,
    box_from_root,
    check_boxes,
    crop_affine,
    flip_crops,
    user_boxes,
    warp_crops,
)
from pipeline.frame_check import check_image_size, image_cameras
from pipeline.keypoints import detect
from schemas.device import check_device
from schemas.errors import CacheError, InputError
from schemas.joints import JOINT_SETS

FP16_MAX = 65504.0
QUEUE_DEPTH = 2  # prefetched batches


class ExtractionError(CacheError):
    """The backbone produced values that cannot be stored (fp16 overflow, NaN) or the clip failed otherwise."""


def clip_boxes(clip: Clip, box: str = "root", boxes: np.ndarray | None = None) -> np.ndarray:
    """(L, 4) x0, y0, x1, y1 px crop boxes for every row of `clip`.

    box='root': CA-PoseFormer's GT-root box (`box_from_root`); 'kp2d': GT-2D bbox padded 1.25; `boxes`
    (L, 4) overrides both. Rows with valid=False whose box cannot be made (no annotation, outside the image)
    get the full image; such a failure on a valid row raises InputError naming the row.
    """
    L = clip.length
    width = np.array([clip.cameras[c].width for c in clip.camera], dtype=np.float64)
    height = np.array([clip.cameras[c].height for c in clip.camera], dtype=np.float64)
    full = np.stack([np.zeros(L), np.zeros(L), width, height], axis=-1)
    valid = np.asarray(clip.valid, dtype=bool)
    if boxes is not None:
        out = user_boxes(boxes, L).astype(np.float64)
    elif box == "root":
        root = np.asarray(clip.pose3d_cam, np.float64)[:, JOINT_SETS[clip.joint_set].root]
        out = full.copy()
        ok = np.isfinite(root).all(axis=1) & (root[:, 2] > 0)
        for c in np.unique(clip.camera):
            sel = (clip.camera == c) & ok
            if sel.any():
                out[sel] = box_from_root(root[sel], clip.cameras[c])
        _raise_on_valid(clip, ~ok & valid, "has no usable 3D root (non-finite or depth <= 0) for --box root")
    elif box == "kp2d":
        kp = np.asarray(clip.kp2d_gt, np.float64)
        ok = np.isfinite(kp).all(axis=-1).any(axis=-1)
        out = full.copy()
        if ok.any():
            out[ok] = box_from_kp2d(kp[ok])
        _raise_on_valid(clip, ~ok & valid, "has no finite GT 2D joint for --box kp2d")
    else:
        raise InputError(f"--box {box!r} is unknown; valid: {', '.join(BOX_MODES)} (or user boxes)")
    b = out
    outside = (~np.isfinite(b).all(axis=1) | (b[:, 2] <= 0) | (b[:, 0] >= width) | (b[:, 3] <= 0)
               | (b[:, 1] >= height) | (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1]))
    out[outside & ~valid] = full[outside & ~valid]
    check_boxes(out, width, height, where=f"clip {clip.key}")
    return out.astype(np.float32)


def _raise_on_valid(clip: Clip, bad: np.ndarray, what: str) -> None:
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(f"clip {clip.key}: row {int(rows[0])} ({int(rows.size)} rows in all) {what}")


@dataclass
class _Batch:
    start: int
    stop: int
    boxes: np.ndarray
    affines: np.ndarray
    crops: torch.Tensor


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


def _produce(clip: Clip, boxes: np.ndarray, affines: np.ndarray, batch_size: int, device: torch.device,
             out: queue.Queue, stop: threading.Event) -> None:
    """Producer thread: decode images in order, warp each row batch, put `_Batch`es (then _DONE) on `out`."""

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        frames = iter(clip.frames())
        k, img = -1, None
        image = np.asarray(clip.image, dtype=np.int64)
        cams = image_cameras(clip)
        with torch.inference_mode():
            for start in range(0, clip.length, batch_size):
                stop_row = min(clip.length, start + batch_size)
                need = image[start:stop_row]
                imgs: dict[int, np.ndarray] = {}
                for m in np.unique(need):
                    while k < m:
                        try:
                            img = next(frames)
                        except StopIteration:
                            raise InputError(f"clip {clip.key} ({clip.source}): frames() ended after {k + 1} "
                                             f"images but row {start + int(np.argmax(need == m))} needs image "
                                             f"{int(m)}") from None
                        k += 1
                    imgs[int(m)] = _check_image(clip, img, int(m), cams[int(m)])
                order = sorted(imgs)
                shapes = {imgs[m].shape for m in order}
                index = np.searchsorted(order, need)
                A = affines[start:stop_row]
                if len(shapes) == 1:
                    crops = warp_crops(np.stack([imgs[m] for m in order]), A, device=device, index=index)
                else:  # images of different sizes in one batch: warp per image
                    crops = torch.cat([warp_crops(imgs[int(m)][None], A[i:i + 1], device=device)
                                       for i, m in enumerate(need)])
                if not put(_Batch(start, stop_row, boxes[start:stop_row], A, crops)):
                    return
        put(_DONE)
    except BaseException as exc:  # noqa: BLE001  (handed to the consumer thread, re-raised there)
        put(_Failed(exc))


def _check_image(clip: Clip, img: object, m: int, cam_index: int) -> np.ndarray:
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InputError(f"clip {clip.key} ({clip.source}): image {m} is {arr.dtype} {arr.shape}, "
                         "expected (H, W, 3) uint8 RGB")
    check_image_size(clip, arr, m, cam_index)
    return arr


def check_fp16(maps: dict[str, torch.Tensor], clip_key: str, rows: tuple[int, int], prefix: str = "") -> None:
    """ExtractionError naming the clip, level and rows if any map value is non-finite or beyond fp16 range."""
    for lv, x in maps.items():
        amax = float(x.detach().abs().amax()) if x.numel() else 0.0
        if not np.isfinite(amax) or amax > FP16_MAX:
            raise ExtractionError(
                f"clip {clip_key}: level {prefix}{lv} rows {rows[0]}..{rows[1] - 1} has |x| max {amax:.4g}, "
                f"beyond float16 (inf/NaN or > {FP16_MAX:.0f}); the clip is not stored. A random-init or "
                "diverged checkpoint can do this: use a trained --checkpoint.")


def extract_clip(clip: Clip, backbone: Backbone, batch_size: int = 8, box: str = "root", flip: bool = False,
                 device: str = "cpu", boxes: np.ndarray | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Yield consecutive row batches of `clip` (rows [0, B), [B, 2B), ...) as numpy dicts:

    bbox (B, 4) f32 px · affine (B, 2, 3) f32 image px -> crop px · kp2d (B, J, 2) f32 image px and
    kp2d_score (B, J) f32 (COCO-17 detections mapped to `clip.joint_set`, see `keypoints.coco17_to`) ·
    one (B, C, H, W) float16 map per backbone level (s4, s8, s16, s32) · with `flip`, `flip/<level>` maps of
    the horizontally flipped crops. Raises InputError for bad input (boxes, frames), ExtractionError on
    fp16 overflow; nothing is yielded for a batch that fails.
    """
    if batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {batch_size}")
    dev = check_device(device)
    if dev.type != backbone.device.type:
        raise InputError(f"--device {device!r} differs from the backbone's device {backbone.device}; "
                         "build the backbone on the same device")
    image = np.asarray(clip.image)
    if clip.length and np.any(np.diff(image) < 0):
        raise InputError(f"clip {clip.key}: rows must be ordered by image (clip.image non-decreasing)")
    bxs = clip_boxes(clip, box, boxes)
    affines = crop_affine(bxs, backbone.input_size)
    q: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    stop = threading.Event()
    worker = threading.Thread(target=_produce, args=(clip, bxs, affines, batch_size, dev, q, stop),
                              name=f"prefetch {clip.key}", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                exc = item.exc
                if isinstance(exc, CacheError):
                    raise exc
                raise ExtractionError(f"clip {clip.key} ({clip.source}): decoding/cropping failed: "
                                      f"{type(exc).__name__}: {exc}") from exc
            yield _run_batch(clip, backbone, item, flip)
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()


def _run_batch(clip: Clip, backbone: Backbone, batch: _Batch, flip: bool) -> dict[str, np.ndarray]:
    rows = (batch.start, batch.stop)
    n = batch.stop - batch.start
    crops = torch.cat([batch.crops, flip_crops(batch.crops)]) if flip else batch.crops
    maps, heatmaps = backbone.forward(crops)
    out: dict[str, np.ndarray] = {"bbox": batch.boxes.astype(np.float32),
                                  "affine": batch.affines.astype(np.float32)}
    kp, score = detect(heatmaps[:n], batch.affines, clip.joint_set, backbone.codec_cfg)
    out["kp2d"], out["kp2d_score"] = kp, score
    check_fp16({lv: x[:n] for lv, x in maps.items()}, clip.key, rows)
    if flip:
        check_fp16({lv: x[n:] for lv, x in maps.items()}, clip.key, rows, prefix="flip/")
    for lv, x in maps.items():
        x16 = x.half().cpu().numpy()
        out[lv] = x16[:n]
        if flip:
            out[f"flip/{lv}"] = x16[n:]
    return out
