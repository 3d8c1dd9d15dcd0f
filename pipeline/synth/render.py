"""Numpy renderer of procedural bodies with depth cues that 2D keypoints lack.

Limbs are shaded capsules drawn through the real camera (incl. lens distortion, `schemas.camera.project`) with a
z-buffer (nearer parts occlude farther ones, also across people); projected thickness falls as 1/z; brightness
rises as a surface point gets nearer than the person's root (`DEPTH_GAIN` per mm, clipped) times a Lambert-like
term; the background is a smooth colour texture. Only each capsule's bounding box is rasterized.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from schemas.camera import Camera, project

# (joint a, joint b, radius at a mm, radius at b mm, part) over the rich joint array of `synth.body`
CAPSULES: tuple[tuple[int, int, float, float, str], ...] = (
    (0, 7, 125, 120, "shirt"), (7, 8, 120, 130, "shirt"), (1, 4, 85, 85, "pants"), (8, 11, 65, 60, "shirt"),
    (8, 14, 65, 60, "shirt"), (8, 9, 50, 50, "skin"), (9, 10, 95, 90, "skin"),
    (1, 2, 75, 55, "pants"), (2, 3, 55, 45, "pants"), (4, 5, 75, 55, "pants"), (5, 6, 55, 45, "pants"),
    (3, 18, 45, 38, "shoes"), (6, 17, 45, 38, "shoes"), (18, 20, 38, 30, "shoes"), (17, 19, 38, 30, "shoes"),
    (11, 12, 52, 44, "shirt"), (12, 13, 42, 35, "skin"), (14, 15, 52, 44, "shirt"), (15, 16, 42, 35, "skin"),
    (13, 21, 35, 30, "skin"), (16, 22, 35, 30, "skin"),
)
DEPTH_GAIN = 1.0 / 900.0  # brightness factor change per mm of depth relative to the root (nearer = brighter)


def palette(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-person albedo (RGB in 0..1) for each body part."""
    skin = np.array([0.85, 0.66, 0.52]) * rng.uniform(0.75, 1.05)
    return {"skin": skin, "shirt": rng.uniform(0.25, 0.95, 3), "pants": rng.uniform(0.2, 0.7, 3),
            "shoes": rng.uniform(0.1, 0.35, 3)}


def background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 smooth textured background: two octaves of upsampled colour noise + a floor gradient."""
    out = np.zeros((height, width, 3), np.float32)
    for cells, amp in ((6, 55.0), (40, 14.0)):
        small = rng.uniform(-1, 1, (cells, max(2, cells * width // height), 3)).astype(np.float32)
        img = Image.fromarray(((small + 1) * 127.5).astype(np.uint8)).resize((width, height), Image.BICUBIC)
        out += (np.asarray(img, np.float32) / 127.5 - 1) * amp
    base = rng.uniform(70, 140, 3).astype(np.float32)
    ramp = np.linspace(-25, 25, height, dtype=np.float32)[:, None, None]
    return np.clip(out + base + ramp, 0, 255).astype(np.uint8)


def render(bg: np.ndarray, people_cam: list[np.ndarray], cam: Camera, colors: list[dict[str, np.ndarray]]
           ) -> np.ndarray:
    """(H, W, 3) uint8: `bg` with every person's capsules drawn; people_cam[i] (25, 3) rich joints, camera mm."""
    img = bg.copy()
    H, W = img.shape[:2]
    zbuf = np.full((H, W), np.inf, np.float32)
    for joints, col in zip(people_cam, colors, strict=True):
        joints = np.asarray(joints, np.float64)
        z_root = joints[0, 2]
        uv = project(joints, cam)
        for a, b, ra, rb, part in CAPSULES:
            za, zb = joints[a, 2], joints[b, 2]
            if min(za, zb) < 200:
                continue
            _capsule(img, zbuf, uv[a], uv[b], za, zb, ra, rb, cam.f.mean(), z_root, col[part])
    return img


def _capsule(img, zbuf, pa, pb, za, zb, ra, rb, f, z_root, albedo) -> None:
    Ra, Rb = f * ra / za, f * rb / zb  # projected radii, px
    H, W = zbuf.shape
    rmax = max(Ra, Rb) + 1
    x0, x1 = int(max(np.floor(min(pa[0], pb[0]) - rmax), 0)), int(min(np.ceil(max(pa[0], pb[0]) + rmax), W - 1))
    y0, y1 = int(max(np.floor(min(pa[1], pb[1]) - rmax), 0)), int(min(np.ceil(max(pa[1], pb[1]) + rmax), H - 1))
    if x1 < x0 or y1 < y0:
        return
    xs = np.arange(x0, x1 + 1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1 + 1, dtype=np.float32)[:, None]
    d = np.asarray(pb - pa, np.float32)
    dd = float(d @ d) or 1e-6
    t = np.clip(((xs - pa[0]) * d[0] + (ys - pa[1]) * d[1]) / dd, 0, 1)
    rho = np.hypot(xs - (pa[0] + t * d[0]), ys - (pa[1] + t * d[1]))
    R = Ra + t * (Rb - Ra)
    inside = rho < R
    if not inside.any():
        return
    nz = np.sqrt(np.clip(1 - (rho / np.maximum(R, 1e-3)) ** 2, 0, 1))
    z = za + t * (zb - za) - (ra + t * (rb - ra)) * nz
    zb_view = zbuf[y0:y1 + 1, x0:x1 + 1]
    draw = inside & (z < zb_view)
    if not draw.any():
        return
    depth = np.clip(1 - (z - z_root) * DEPTH_GAIN, 0.35, 1.65)
    shade = (0.45 + 0.55 * nz) * depth
    zb_view[draw] = z[draw]
    view = img[y0:y1 + 1, x0:x1 + 1]
    view[draw] = np.clip(shade[draw, None] * albedo[None, :] * 200.0 + 0.5, 0, 255).astype(np.uint8)
