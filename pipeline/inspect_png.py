"""Render one cached row as a PNG: the crop with GT and detected skeletons, then each feature level's
channel energy (L2 norm over channels) as a heatmap, side by side. Matplotlib Agg, no global pyplot state."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from schemas.errors import InputError

PANEL_IN = 2.4  # panel width, inches
DPI = 100


def channel_energy(m: np.ndarray) -> np.ndarray:
    """(C, H, W) map -> (H, W) float32 L2 norm over channels (non-finite values count as 0)."""
    x = np.nan_to_num(np.asarray(m, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return np.sqrt((x * x).sum(axis=0))


def _skeleton(ax, kp: np.ndarray, parents: Sequence[int], color: str, label: str) -> None:
    kp = np.asarray(kp, dtype=np.float64)
    for c, p in enumerate(parents):
        if p >= 0 and np.isfinite(kp[[c, p]]).all():
            ax.plot(kp[[c, p], 0], kp[[c, p], 1], color=color, lw=1.5)
    ok = np.isfinite(kp).all(axis=1)
    ax.scatter(kp[ok, 0], kp[ok, 1], s=8, color=color, label=label, zorder=3)


def render_inspect(crop_rgb: np.ndarray, kp_gt_crop: np.ndarray | None, kp_det_crop: np.ndarray | None,
                   parents: Sequence[int], maps: dict[str, np.ndarray], out: Path,
                   title: str = "") -> Path:
    """Write the PNG to `out` and return it. Size: (1 + levels) * 240 px wide, 360 px high.

    crop_rgb (H, W, 3) uint8 · kp_*_crop (J, 2) crop px or None · parents (J,) skeleton ·
    maps {level: (C, h, w)}; each level is stretched over the crop extent so positions line up with the crop.
    """
    crop = np.asarray(crop_rgb)
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
        raise InputError(f"render_inspect: crop must be (H, W, 3) uint8, got {crop.dtype} {crop.shape}")
    H, W = crop.shape[:2]
    n = 1 + len(maps)
    fig = Figure(figsize=(PANEL_IN * n, PANEL_IN * 1.5), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    ax = axes[0]
    ax.imshow(crop, extent=(-0.5, W - 0.5, H - 0.5, -0.5))
    if kp_gt_crop is not None:
        _skeleton(ax, kp_gt_crop, parents, "lime", "GT")
    if kp_det_crop is not None:
        _skeleton(ax, kp_det_crop, parents, "red", "detected")
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    ax.set_title(title or "crop: GT (green), detected (red)", fontsize=7)
    for ax, (name, m) in zip(axes[1:], maps.items(), strict=True):
        e = channel_energy(m)
        ax.imshow(e, cmap="inferno", extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="nearest")
        ax.set_title(f"{name} {tuple(np.shape(m))} max {e.max():.3g}", fontsize=7)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    return out
