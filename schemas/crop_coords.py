"""Crop coordinate conventions shared by extraction (joint features) and the lifters (`ref` input).

- crop px: `[u, v]^T = A @ [x, y, 1]^T` with the stored (2, 3) crop affine (image px -> crop px);
- the flipped crop is the mirror image: u -> W - 1 - u (the stored flipped maps are `torch.flip` of the crop);
- map-normalized: `u / (W / 2) - 1, v / (H / 2) - 1`, read with `grid_sample(align_corners=True)` semantics
  (-1 / +1 = centres of the first / last map pixel), border padding (CA-PF's convention).
"""

from __future__ import annotations

import numpy as np

DEFAULT_CROP_HW = (256, 192)  # (H, W) px; used when the store has no backbone group to say otherwise


def flip_crop_px(uv_crop: np.ndarray, perm: np.ndarray, crop_width: int) -> np.ndarray:
    """(..., J, 2) crop px -> crop px of the flipped crop (u -> W - 1 - u), joints swapped by `perm`."""
    out = np.array(uv_crop, copy=True)[..., perm, :]
    out[..., 0] = crop_width - 1 - out[..., 0]
    return out


def image_to_ref(kp_px: np.ndarray, affine: np.ndarray, crop_hw: tuple[int, int],
                 flip: np.ndarray | None = None, perm: np.ndarray | None = None) -> np.ndarray:
    """(n, J, 2) image px -> (n, J, 2) map-normalized crop coordinates via (n, 2, 3) affines.

    Rows with `flip` are mirrored in crop px (u -> W - 1 - u, joints permuted by `perm`) before normalizing.
    """
    a = np.asarray(affine, np.float64)
    uv = np.einsum("nij,nkj->nki", a[:, :, :2], np.asarray(kp_px, np.float64)) + a[:, None, :, 2]
    h, w = crop_hw
    if flip is not None and flip.any():
        uv[flip] = flip_crop_px(uv[flip], perm, w)
    return uv / np.array([w / 2.0, h / 2.0]) - 1.0


def bilinear_at(fmap: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Bilinear samples of maps (n, C, H, W) at map-normalized points (n, J, 2) -> (n, J, C) float32.

    Same values as `torch.nn.functional.grid_sample(align_corners=True, padding_mode="border")`."""
    fmap = np.asarray(fmap)
    n, _, h, w = fmap.shape
    ref = np.asarray(ref, np.float64)
    x = np.clip((ref[..., 0] + 1) * (w - 1) / 2, 0, w - 1)
    y = np.clip((ref[..., 1] + 1) * (h - 1) / 2, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    b = np.arange(n)[:, None]

    def at(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return fmap[b, :, yy, xx].astype(np.float32)  # (n, J, C)

    top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)
