"""Horizontal flip of lifter inputs and outputs (augmentation and flip-test), numpy and torch.

A flipped sample is the mirror image of the person: joint j of the flipped sample is the mirror of joint
`perm[j]` of the original (`perm = JointSet.flip_permutation()`, left <-> right). Mirroring acts on
- screen-normalized 2D (x in [-1, 1] over the image width): x -> -x (VideoPose3D convention),
- crop pixels (width W): u -> W - 1 - u (the stored flipped maps are `torch.flip` of the crop, see
  `pipeline.crops.flip_crops`),
- root-relative camera-frame 3D: x -> -x.
"""

from __future__ import annotations

import numpy as np
import torch


def flip_screen_2d(kp2d_norm: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """(..., J, 2) screen-normalized 2D -> mirrored, joints swapped."""
    out = np.array(kp2d_norm, copy=True)[..., perm, :]
    out[..., 0] *= -1
    return out


def flip_pose_3d(pose: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """(..., J, 3) root-relative 3D (any unit) -> mirrored (x -> -x), joints swapped."""
    out = np.array(pose, copy=True)[..., perm, :]
    out[..., 0] *= -1
    return out


def unflip_pose_3d(pose: torch.Tensor, perm: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(B, J, 3) prediction for a flipped input -> prediction for the original (the flip is an involution)."""
    idx = torch.as_tensor(np.asarray(perm), dtype=torch.long, device=pose.device)
    out = pose[:, idx].clone()
    out[..., 0] = -out[..., 0]
    return out
