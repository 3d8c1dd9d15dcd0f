"""Crop boxes, crop affines and the batched warp to 256x192 network input.

Coordinates: image px and crop px put integer values at pixel centres (OpenCV's convention). A crop affine
A (2, 3) maps image px to crop px, `[u, v] = A @ [x, y, 1]`; the box centre goes to the crop centre (W/2, H/2)
as in mmpose's `get_warp_matrix`, and the box is first expanded to the crop aspect ratio W/H.

Feature-map coordinates from crop px (two conventions, both provided):
- mmpose heatmap convention (used by its codecs): level px = crop px / stride (`crop_to_level`).
- CA-PoseFormer's sampling: `grid_sample(map, grid, align_corners=True)` with grid = crop px / [W/2, H/2] - 1,
  i.e. /[96, 128] - 1 at 256x192 (`crop_to_grid`); it lands at level px (grid + 1) / 2 * (size - 1)
  (`grid_to_level`), slightly off the /stride convention (factor (W_l - 1) / W_l).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from schemas.camera import Camera
from schemas.errors import InputError

CROP_HW = (256, 192)
IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0-255 scale (mmpose PoseDataPreprocessor)
IMAGENET_STD = (58.395, 57.12, 57.375)
# CA-PF `_infer_box`: x0, y0, x1, y1 offsets from the root, camera mm
ROOT_BOX_MM = (-1000.0, -900.0, 1000.0, 1100.0)
MIN_INSIDE = 0.5  # a crop box with less than this fraction of its area inside the image fails its clip


def box_from_root(root_cam_mm: np.ndarray, camera: Camera) -> np.ndarray:
    """(N, 3) camera-frame root mm -> (N, 4) x0, y0, x1, y1 px: CA-PoseFormer's GT-root box.

    Corners root + (-1000, -900) and root + (1000, 1100) mm at the root's depth, projected with the pinhole
    model without distortion (as the reference's `_weak_project`): a 2 m square, 0.1 m below centred.
    """
    root = np.asarray(root_cam_mm, dtype=np.float64).reshape(-1, 3)
    z = root[:, 2]
    if np.any(~np.isfinite(z)) or np.any(z <= 0):
        bad = np.flatnonzero(~np.isfinite(z) | (z <= 0))
        raise InputError(f"box_from_root: root depth must be > 0 mm; rows {bad[:5].tolist()} have z "
                         f"{z[bad[:5]].tolist()}")
    dx0, dy0, dx1, dy1 = ROOT_BOX_MM
    x0 = (root[:, 0] + dx0) / z * camera.f[0] + camera.c[0]
    y0 = (root[:, 1] + dy0) / z * camera.f[1] + camera.c[1]
    x1 = (root[:, 0] + dx1) / z * camera.f[0] + camera.c[0]
    y1 = (root[:, 1] + dy1) / z * camera.f[1] + camera.c[1]
    return np.stack([x0, y0, x1, y1], axis=-1).astype(np.float32)


def box_from_kp2d(kp: np.ndarray, pad: float = 1.25) -> np.ndarray:
    """(N, J, 2) px -> (N, 4) x0, y0, x1, y1 px: the joints' bounding box scaled by `pad` about its centre.

    Non-finite joints are ignored; a row with none raises InputError naming it.
    """
    kp = np.asarray(kp, dtype=np.float64)
    ok = np.isfinite(kp).all(axis=-1)
    empty = np.flatnonzero(~ok.any(axis=-1))
    if empty.size:
        raise InputError(f"box_from_kp2d: rows {empty[:5].tolist()} have no finite 2D joint; use --box root")
    big = np.where(ok[..., None], kp, np.nan)
    lo, hi = np.nanmin(big, axis=1), np.nanmax(big, axis=1)
    c, half = (lo + hi) / 2, (hi - lo) / 2 * pad
    return np.concatenate([c - half, c + half], axis=-1).astype(np.float32)


def user_boxes(boxes: np.ndarray, n_rows: int) -> np.ndarray:
    """User-provided (N, 4) x0, y0, x1, y1 px boxes, passed through after a shape check."""
    b = np.asarray(boxes, dtype=np.float32)
    if b.shape != (n_rows, 4):
        raise InputError(f"boxes must have shape ({n_rows}, 4) x0, y0, x1, y1 px, got {b.shape}")
    return b


def check_boxes(boxes: np.ndarray, width: int | np.ndarray, height: int | np.ndarray,
                rows: np.ndarray | None = None, where: str = "") -> None:
    """InputError naming the row if a box is degenerate/non-finite or lies mostly outside its image (less than
    MIN_INSIDE of its area inside)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rows = np.arange(len(b)) if rows is None else np.asarray(rows)
    w = np.broadcast_to(np.asarray(width, dtype=np.float64), (len(b),))
    h = np.broadcast_to(np.asarray(height, dtype=np.float64), (len(b),))
    where = f"{where}: " if where else ""
    bad = ~np.isfinite(b).all(axis=1) | (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where}row {int(rows[i])}: crop box {b[i].tolist()} is degenerate or not finite "
                         f"({int(bad.sum())} such rows)")
    inside = (np.clip(b[:, 2], 0, w) - np.clip(b[:, 0], 0, w)) * (np.clip(b[:, 3], 0, h) - np.clip(b[:, 1], 0, h))
    frac = inside / ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))
    out = frac < MIN_INSIDE
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise InputError(f"{where}row {int(rows[i])}: crop box {b[i].round(1).tolist()} lies mostly outside "
                         f"the {int(w[i])}x{int(h[i])} image ({100 * frac[i]:.0f}% inside; {int(out.sum())} such "
                         "rows); check the camera / annotations / video size or use another --box")


def crop_affine(boxes: np.ndarray, out_hw: tuple[int, int] = CROP_HW) -> np.ndarray:
    """(N, 4) boxes px -> (N, 2, 3) float32 affines image px -> crop px.

    The box is expanded (never shrunk) to the crop aspect W/H about its centre, scaled to fill the crop,
    and its centre mapped to (W/2, H/2).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    H, W = out_hw
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    bw = np.maximum(bw, bh * W / H)
    s = W / bw  # crop px per image px
    A = np.zeros((len(b), 2, 3))
    A[:, 0, 0] = s
    A[:, 1, 1] = s
    A[:, 0, 2] = W / 2 - s * cx
    A[:, 1, 2] = H / 2 - s * cy
    return A.astype(np.float32)


def invert_affine(A: np.ndarray) -> np.ndarray:
    """(..., 2, 3) -> (..., 2, 3) inverse affine (crop px -> image px), float64 math, input dtype out."""
    A = np.asarray(A)
    M = A[..., :2].astype(np.float64)
    Minv = np.linalg.inv(M)
    t = -(Minv @ A[..., 2:].astype(np.float64))
    return np.concatenate([Minv, t], axis=-1).astype(A.dtype if A.dtype.kind == "f" else np.float64)


def apply_affine(A: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply (..., 2, 3) affines to (..., J, 2) points -> (..., J, 2)."""
    A = np.asarray(A, dtype=np.float64)
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ np.swapaxes(A[..., :2], -1, -2) + A[..., None, :, 2]


def flip_affine(A: np.ndarray, out_w: int = CROP_HW[1]) -> np.ndarray:
    """(..., 2, 3) image px -> crop px affine of the horizontally flipped crop: u' = W - 1 - u."""
    F_ = np.array([[-1.0, 0.0, out_w - 1.0], [0.0, 1.0, 0.0]])
    A = np.asarray(A)
    full = np.concatenate([A.astype(np.float64), np.broadcast_to([0.0, 0.0, 1.0], (*A.shape[:-2], 1, 3))], -2)
    return (F_ @ full).astype(A.dtype)


def crop_to_level(pts_crop: np.ndarray, stride: int) -> np.ndarray:
    """(..., 2) crop px -> level px, mmpose heatmap convention (level px i <-> crop px i * stride)."""
    return np.asarray(pts_crop, dtype=np.float64) / stride


def crop_to_grid(pts_crop: np.ndarray, out_hw: tuple[int, int] = CROP_HW) -> np.ndarray:
    """(..., 2) crop px -> grid_sample coords as CA-PoseFormer: pts / [W/2, H/2] - 1 (align_corners=True)."""
    H, W = out_hw
    return np.asarray(pts_crop, dtype=np.float64) / np.array([W / 2, H / 2]) - 1


def grid_to_level(grid: np.ndarray, level_hw: tuple[int, int]) -> np.ndarray:
    """(..., 2) align_corners=True grid coordinates -> level px: (g + 1) / 2 * (size - 1)."""
    h, w = level_hw
    return (np.asarray(grid, dtype=np.float64) + 1) / 2 * np.array([w - 1, h - 1])


def _as_uint8_batch(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    if isinstance(images, np.ndarray) and images.ndim == 4:
        arr = images
    else:
        shapes = {np.shape(im) for im in images}
        if len(shapes) != 1:
            raise InputError(f"warp_crops: images in one call must share a shape, got {sorted(shapes)}")
        arr = np.stack(list(images))
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise InputError(f"warp_crops: images must be uint8 (M, H, W, 3) RGB, got {arr.dtype} {arr.shape}")
    return arr


def warp_crops(images: np.ndarray | Sequence[np.ndarray], affines: np.ndarray,
               out_hw: tuple[int, int] = CROP_HW, device: str | torch.device = "cpu",
               index: np.ndarray | None = None, normalize: bool = True) -> torch.Tensor:
    """Warp uint8 RGB images (M, H, W, 3) to crops (B, 3, H_out, W_out) float32 on `device`.

    `affines` (B, 2, 3) map image px -> crop px; `index` (B,) picks the image of each crop (default: crop b
    from image b, M == B), so several crops can share one image. Bilinear, zero border (as cv2.warpAffine with
    BORDER_CONSTANT 0), then ImageNet mean/std normalisation on the 0-255 scale unless `normalize=False`
    (then values are 0-255 floats). On CUDA the upload uses pinned memory and a non_blocking copy.
    """
    arr = _as_uint8_batch(images)
    A = np.asarray(affines, dtype=np.float64).reshape(-1, 2, 3)
    B = len(A)
    idx = np.arange(B) if index is None else np.asarray(index, dtype=np.int64)
    if idx.shape != (B,) or (B and (idx.min() < 0 or idx.max() >= len(arr))):
        raise InputError(f"warp_crops: index must be (B={B},) into {len(arr)} images, got {idx.tolist()}")
    dev = torch.device(device)
    Hi, Wi = arr.shape[1:3]
    Ho, Wo = out_hw
    Ainv = torch.from_numpy(invert_affine(A)).to(dev, torch.float64)  # (B, 2, 3) crop px -> image px
    v, u = torch.meshgrid(torch.arange(Ho, device=dev, dtype=torch.float64),
                          torch.arange(Wo, device=dev, dtype=torch.float64), indexing="ij")
    uv1 = torch.stack([u, v, torch.ones_like(u)], dim=-1)  # (Ho, Wo, 3)
    xy = torch.einsum("hwk,bjk->bhwj", uv1, Ainv)  # (B, Ho, Wo, 2) image px (pixel centres)
    scale = torch.tensor([Wi, Hi], device=dev, dtype=torch.float64)
    grid = ((2 * xy + 1) / scale - 1).float()  # align_corners=False normalisation
    crops = torch.empty((B, 3, Ho, Wo), device=dev)
    for m in np.unique(idx):  # one image at a time: memory ~ one float image, crops of it sampled together
        rows = np.flatnonzero(idx == m)
        src = torch.from_numpy(arr[m])
        if dev.type == "cuda":
            src = src.pin_memory().to(dev, non_blocking=True)
        src = src.to(dev).permute(2, 0, 1).float()[None]  # (1, 3, H, W)
        g = grid[torch.from_numpy(rows).to(dev)].reshape(1, len(rows) * Ho, Wo, 2)  # crops stacked along H
        out = F.grid_sample(src, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        crops[torch.from_numpy(rows).to(dev)] = out.view(3, len(rows), Ho, Wo).transpose(0, 1)
    if normalize:
        mean = torch.tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)
        crops = (crops - mean) / std
    return crops.contiguous()


def flip_crops(crops: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> horizontally flipped copy (crop px u -> W - 1 - u; see `flip_affine`)."""
    return torch.flip(crops, dims=[-1])


def denormalize(crops: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) ImageNet-normalized float -> (B, H, W, 3) uint8 RGB (for inspection images)."""
    mean = torch.tensor(IMAGENET_MEAN, device=crops.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=crops.device).view(1, 3, 1, 1)
    x = (crops.float() * std + mean).clamp(0, 255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
