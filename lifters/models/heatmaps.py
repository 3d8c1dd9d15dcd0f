"""Heatmap, depth-bin and skeleton-scale helpers of the Cascaded Dimension-Lifting lifter (pure torch functions).

Coordinates are map-normalized like the batches' `ref`: x, y in [-1, 1] with -1 / +1 at the centres of the
first / last pixel (`grid_sample(align_corners=True)`), so map pixel column c sits at x = -1 + 2c / (W - 1).
"""

from __future__ import annotations

import torch

from schemas.errors import InputError
from schemas.joints import JointSet

# the "neck" joint and the two knees of each joint set, for the neck -> knee geodesic of CDL's scale norm
NECK_KNEES: dict[str, tuple[str, tuple[str, str]]] = {
    "h36m17": ("Thorax", ("RKnee", "LKnee")),
    "h36m32": ("Neck", ("RightLeg", "LeftLeg")),
    "mpi17": ("neck", ("right_knee", "left_knee")),
    "muco21": ("neck", ("right_knee", "left_knee")),
}


def pixel_grid(h: int, w: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(ys (h,), xs (w,)) map-normalized pixel-centre coordinates."""
    return (torch.linspace(-1.0, 1.0, h, device=device, dtype=dtype),
            torch.linspace(-1.0, 1.0, w, device=device, dtype=dtype))


def soft_argmax_2d(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Integral (soft-argmax) 2D coordinates: logits (B, J, H, W) -> (xy (B, J, 2) map-normalized, probs
    (B, J, H, W) = softmax over the H*W pixels)."""
    b, j, h, w = logits.shape
    probs = logits.flatten(2).softmax(-1).view(b, j, h, w)
    ys, xs = pixel_grid(h, w, logits.device, logits.dtype)
    x = (probs.sum(2) * xs).sum(-1)
    y = (probs.sum(3) * ys).sum(-1)
    return torch.stack([x, y], -1), probs


def to_map_px(points: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(..., 2) map-normalized x, y -> (..., 2) map pixel x, y."""
    return (points + 1.0) / 2.0 * points.new_tensor([w - 1, h - 1])


def gaussian_heatmaps(points: torch.Tensor, h: int, w: int, sigma_px: float) -> torch.Tensor:
    """(B, J, 2) map-normalized points -> (B, J, h, w) Gaussians exp(-r^2 / (2 sigma^2)), r in map pixels."""
    px = to_map_px(points, h, w)
    ys = torch.arange(h, device=points.device, dtype=points.dtype)
    xs = torch.arange(w, device=points.device, dtype=points.dtype)
    dx2 = (xs - px[..., 0:1]) ** 2  # (B, J, w)
    dy2 = (ys - px[..., 1:2]) ** 2  # (B, J, h)
    return torch.exp(-(dy2[..., :, None] + dx2[..., None, :]) / (2.0 * sigma_px ** 2))


def bone_heatmaps(points: torch.Tensor, bones: list[tuple[int, int]], h: int, w: int, sigma_px: float
                  ) -> torch.Tensor:
    """(B, J, 2) map-normalized joints -> (B, len(bones), h, w): exp(-d^2 / (2 sigma^2)) with d the distance
    (map pixels) from each pixel to the parent -> child segment."""
    px = to_map_px(points, h, w)
    idx = torch.as_tensor(bones, dtype=torch.long, device=points.device)
    a, c = px[:, idx[:, 0]], px[:, idx[:, 1]]  # (B, nb, 2)
    ys = torch.arange(h, device=points.device, dtype=points.dtype)
    xs = torch.arange(w, device=points.device, dtype=points.dtype)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # (h, w, 2) as (x, y)
    ab = (c - a)[:, :, None, None]  # (B, nb, 1, 1, 2)
    ap = grid - a[:, :, None, None]  # (B, nb, h, w, 2)
    t = ((ap * ab).sum(-1) / (ab ** 2).sum(-1).clamp_min(1e-12)).clamp(0.0, 1.0)
    d2 = ((ap - t[..., None] * ab) ** 2).sum(-1)
    return torch.exp(-d2 / (2.0 * sigma_px ** 2))


def depth_to_bin(z: torch.Tensor, depth_range: float, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Root-relative depth z (any shape, same unit as `depth_range`) -> (continuous bin coordinate in [0, bins]
    (z = -range -> 0, z = +range -> bins), discrete bin index in [0, bins - 1] (long))."""
    cont = ((z / depth_range + 1.0) * (bins / 2.0)).clamp(0.0, float(bins))
    return cont, cont.floor().long().clamp(0, bins - 1)


def bin_to_depth(b: torch.Tensor, depth_range: float, bins: int) -> torch.Tensor:
    """Inverse of the continuous `depth_to_bin`: bin coordinate in [0, bins] -> depth in [-range, range]."""
    return (b / (bins / 2.0) - 1.0) * depth_range


def depth_volume(joint_heatmaps: torch.Tensor, bin_index: torch.Tensor, bins: int) -> torch.Tensor:
    """CDL's depth-centric target volume: (B, J, H, W) joint heatmaps inserted into channel `bin_index` (B, J)
    of a (B, bins, H, W) volume (joints sharing a bin: the pixel-wise maximum)."""
    b, j, h, w = joint_heatmaps.shape
    vol = joint_heatmaps.new_zeros(b, bins, h * w)
    idx = bin_index[:, :, None].expand(b, j, h * w)
    vol.scatter_reduce_(1, idx, joint_heatmaps.reshape(b, j, h * w), reduce="amax")
    return vol.view(b, bins, h, w)


def ordinal_targets(bin_index: torch.Tensor, bins: int) -> torch.Tensor:
    """(...,) discrete bins -> (..., bins - 1) float targets of P(d > c), c = 0 .. bins - 2."""
    c = torch.arange(bins - 1, device=bin_index.device)
    return (bin_index[..., None] > c).float()


def tree_path(parents: tuple[int, ...], a: int, b: int) -> list[tuple[int, int]]:
    """(parent, child) bones on the skeleton-tree path from joint a to joint b, in walking order."""
    def up(i: int) -> list[int]:
        chain = [i]
        while parents[chain[-1]] >= 0:
            chain.append(parents[chain[-1]])
        return chain
    ua, ub = up(a), up(b)
    common = next(i for i in ua if i in ub)
    bones = [(parents[i], i) for i in ua[:ua.index(common)]]
    return bones + [(parents[i], i) for i in reversed(ub[:ub.index(common)])]


def neck_knee_paths(js: JointSet) -> list[list[tuple[int, int]]]:
    """The two neck -> knee bone paths of joint set `js` (CDL's geodesic); InputError for unknown sets."""
    if js.name not in NECK_KNEES:
        raise InputError(f"cdl: no neck/knee joints known for joint set {js.name!r} (known: {', '.join(NECK_KNEES)})")
    neck, knees = NECK_KNEES[js.name]
    return [tree_path(js.parents, js.index(neck), js.index(k)) for k in knees]


def geodesic(pose: torch.Tensor, paths: list[list[tuple[int, int]]]) -> torch.Tensor:
    """(B, J, 3) poses -> (B,) mean over `paths` of the summed bone lengths along each path (pose units)."""
    total = []
    for path in paths:
        idx = torch.as_tensor(path, dtype=torch.long, device=pose.device)
        total.append(torch.linalg.vector_norm(pose[:, idx[:, 1]] - pose[:, idx[:, 0]], dim=-1).sum(-1))
    return torch.stack(total, 0).mean(0)
