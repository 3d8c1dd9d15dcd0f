"""Context-Aware PoseFormer (CA-PF, Zhao et al. CVPR'23), single frame.

Inputs: `kp2d` (B, J, 2) screen-normalized 2D joints; `ref` (B, J, 2) the same joints in map-normalized
coordinates ([-1, 1], x over the crop width, y over its height, `grid_sample(align_corners=True)`);
`maps` {level name: (B, C_l, H_l, W_l)} any spatial size. Output (B, J, 3): root-relative 3D in metres.

Architecture (C = 128, L = 4 levels s4/s8/s16/s32, 4 layers per module, 8 heads):
1. Tokens: a pose token Linear(2 -> C)(kp2d) and one context token per level, Linear(C_l -> C) of the
   level sampled at the reference joint; a Unified Positional Embedding (1, J, L + 1, C) (token type x joint,
   zero-initialised) is added to all of them.
2. Deformable Context Extraction (`DeformableContextLayer`, x4): each level token is refined by deformable
   attention on its own level, query = LN(level token + pose token), 4 heads x K = 4 points, tanh-bounded
   offsets initialised in 4 directions at 0.01..0.04 normalized units, softmax over the K points per head.
3. Pose-Context Feature Fusion (x4): a transformer per joint over its L + 1 tokens (width C).
4. Spatial Inter-joint Modeling (x4): PoseFormer's spatial transformer over J tokens of width (L + 1) * C
   = 640, then LayerNorm + Linear(640 -> 3).

Deviations / choices where the paper is silent: K = 4 and the init radius follow the official code; values
are per-level linear projections split into head slices (Deformable DETR) instead of one head-sized projection
shared by the heads; the softmax is per level (the paper's formula), not over levels x points as in
Deformable DETR, because each level keeps its own token for the fusion module; MLP ratio 2, stochastic depth
up to 0.2 and LayerNorm eps 1e-6 follow the official code. The model does not force the root joint to 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from lifters.models.base import Lifter
from lifters.models.deformable import DeformableContextLayer, sample_points
from lifters.models.param_groups import param_groups
from lifters.models.transformer import Encoder, drop_path_rates
from schemas.arrays import HRNET_W32_LEVELS
from schemas.errors import InputError

__all__ = ["ContextAwarePoseFormer", "param_groups", "W32_CHANNELS"]

W32_CHANNELS: dict[str, int] = {name: shape[0] for name, shape in HRNET_W32_LEVELS.items()}


class ContextAwarePoseFormer(Lifter):
    """CA-PF lifter; see the module docstring. `levels` maps level name -> channel count, in map order."""

    needs_maps = True

    def __init__(self, num_joints: int = 17, levels: Mapping[str, int] | None = None, dim: int = 128,
                 depth: int = 4, heads: int = 8, deform_heads: int = 4, deform_points: int = 4,
                 mlp_ratio: float = 2.0, drop: float = 0.0, drop_path: float = 0.2,
                 init_radius: float = 0.01) -> None:
        super().__init__()
        self.levels = dict(levels if levels is not None else W32_CHANNELS)
        self.num_joints = num_joints
        n_lv = len(self.levels)
        self.pose_embed = nn.Linear(2, dim)
        self.level_embed = nn.ModuleList(nn.Linear(c, dim) for c in self.levels.values())
        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, n_lv + 1, dim))
        self.deformable = nn.ModuleList(
            DeformableContextLayer(list(self.levels.values()), dim, deform_heads, deform_points, mlp_ratio,
                                   r, init_radius)
            for r in drop_path_rates(drop_path, depth))
        self.fusion = Encoder(dim, depth, heads, mlp_ratio, drop, drop_path)
        self.spatial = Encoder((n_lv + 1) * dim, depth, heads, mlp_ratio, drop, drop_path)
        self.head = nn.Sequential(nn.LayerNorm((n_lv + 1) * dim, eps=1e-6), nn.Linear((n_lv + 1) * dim, 3))

    def _level_maps(self, maps: Mapping[str, torch.Tensor], batch: int) -> list[torch.Tensor]:
        missing = [n for n in self.levels if n not in maps]
        if missing:
            raise InputError(f"feature maps lack level(s) {missing}; model needs {list(self.levels)}, "
                             f"got {list(maps)}")
        dtype = self.pose_embed.weight.dtype
        out = []
        for name, ch in self.levels.items():
            m = maps[name]
            if m.ndim != 4 or m.shape[0] != batch or m.shape[1] != ch:
                raise InputError(f"map {name!r} has shape {tuple(m.shape)}, expected ({batch}, {ch}, H, W)")
            out.append(m.to(dtype))  # e.g. fp16 maps from the store -> the model's dtype
        return out

    def forward(self, kp2d: torch.Tensor, ref: torch.Tensor,
                maps: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if kp2d.ndim != 3 or kp2d.shape[1:] != (self.num_joints, 2) or ref.shape != kp2d.shape:
            raise InputError(f"kp2d {tuple(kp2d.shape)} / ref {tuple(ref.shape)}: "
                             f"expected both (B, {self.num_joints}, 2)")
        b, j, _ = kp2d.shape
        fmaps = self._level_maps(maps, b)
        ref = ref.to(fmaps[0].dtype)
        pose = self.pose_embed(kp2d)  # (B, J, C)
        ctx = [emb(sample_points(m, ref)) for m, emb in zip(fmaps, self.level_embed, strict=True)]
        x = torch.stack([pose, *ctx], dim=2) + self.pos_embed  # (B, J, L+1, C)
        pose_tok, lv_tok = x[:, :, 0], x[:, :, 1:]
        for layer in self.deformable:
            lv_tok = layer(lv_tok, pose_tok, ref, fmaps)
        x = torch.cat([pose_tok.unsqueeze(2), lv_tok], dim=2)
        c = x.shape[-1]
        x = self.fusion(x.reshape(b * j, -1, c)).reshape(b, j, -1)  # (B, J, (L+1)*C)
        return self.head(self.spatial(x))
