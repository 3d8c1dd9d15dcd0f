"""Single-frame, context-agnostic PoseFormer: CA-PF's spatial transformer on 2D joints only.

Input `kp2d` (B, J, 2) screen-normalized; output (B, J, 3) root-relative 3D in metres. Each joint is embedded
by Linear(2 -> dim) plus a learnable zero-initialised joint embedding, then `depth` transformer layers over
the J tokens and LayerNorm + Linear(dim -> 3). Defaults match CA-PF's spatial module (dim 640 = 5 x 128,
4 layers, 8 heads, MLP ratio 2), which is the "Step 0" PoseFormer of CA-PF's Table 3 (~446 MFLOPs).
`ref` and `maps` are accepted and ignored so every lifter is called the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from lifters.models.base import Lifter
from lifters.models.transformer import Encoder
from schemas.errors import InputError


class PoseFormer(Lifter):
    """Context-agnostic baseline; see the module docstring."""

    def __init__(self, num_joints: int = 17, dim: int = 640, depth: int = 4, heads: int = 8,
                 mlp_ratio: float = 2.0, drop: float = 0.0, drop_path: float = 0.2) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.embed = nn.Linear(2, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim))
        self.spatial = Encoder(dim, depth, heads, mlp_ratio, drop, drop_path)
        self.head = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 3))

    def forward(self, kp2d: torch.Tensor, ref: torch.Tensor | None = None,
                maps: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        if kp2d.ndim != 3 or kp2d.shape[1:] != (self.num_joints, 2):
            raise InputError(f"kp2d has shape {tuple(kp2d.shape)}, expected (B, {self.num_joints}, 2)")
        return self.head(self.spatial(self.embed(kp2d) + self.pos_embed))
