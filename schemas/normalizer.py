"""Camera-normalized lifter targets: one encode/decode object (mmpose-codec style), numpy only.

encode: 2D px -> screen-normalized (`x / w * 2 - [1, h / w]`, VideoPose3D); 3D camera mm -> root-relative in
`unit` with the root joint exactly 0, plus the absolute root in `unit` (kept for trajectory models).
decode inverts both. Width/height may be scalars or arrays broadcasting over the leading axes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from schemas.camera import image_coordinates, normalize_screen_coordinates

_SCALE = {"m": 1e-3, "mm": 1.0}


def _wh(w, h) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(w, np.float64)[..., None, None], np.asarray(h, np.float64)[..., None, None]


class PoseNormalizer:
    """Root-relative / screen-normalized targets. `root`: root joint index; `unit`: 'm' or 'mm' for 3D outputs."""

    def __init__(self, root: int, unit: Literal["m", "mm"] = "m") -> None:
        if unit not in _SCALE:
            raise ValueError(f"unit must be 'm' or 'mm', got {unit!r}")
        self.root, self.unit, self.scale = int(root), unit, _SCALE[unit]

    def __repr__(self) -> str:
        return f"PoseNormalizer(root={self.root}, unit={self.unit!r})"

    def encode(self, kp2d_px: np.ndarray, pose3d_cam_mm: np.ndarray, width, height) -> dict[str, np.ndarray]:
        """(…, J, 2) px and (…, J, 3) camera mm -> {'kp2d': (…, J, 2) screen-normalized,
        'pose3d': (…, J, 3) root-relative in `unit` (root joint = 0), 'root': (…, 3) absolute root in `unit`}."""
        kp = np.asarray(kp2d_px, np.float64)
        p3 = np.asarray(pose3d_cam_mm, np.float64)
        if np.ndim(width) == 0 and np.ndim(height) == 0:
            kp_n = normalize_screen_coordinates(kp, int(width), int(height))
        else:
            w, h = _wh(width, height)
            kp_n = kp / w * 2 - np.concatenate([np.ones_like(h), h / w], axis=-1)
        root = p3[..., self.root, :]
        rel = p3 - root[..., None, :]
        rel[..., self.root, :] = 0.0
        return {"kp2d": kp_n, "pose3d": rel * self.scale, "root": root * self.scale}

    def decode(self, kp2d_norm: np.ndarray, pose3d_rel: np.ndarray, root: np.ndarray, width, height
               ) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of `encode`: -> ((…, J, 2) px, (…, J, 3) camera mm)."""
        kp = np.asarray(kp2d_norm, np.float64)
        if np.ndim(width) == 0 and np.ndim(height) == 0:
            kp_px = image_coordinates(kp, int(width), int(height))
        else:
            w, h = _wh(width, height)
            kp_px = (kp + np.concatenate([np.ones_like(h), h / w], axis=-1)) * w / 2
        pose = (np.asarray(pose3d_rel, np.float64) + np.asarray(root, np.float64)[..., None, :]) / self.scale
        return kp_px, pose
