"""Multi-scale deformable sampling around 2D joints (CA-PF's Deformable Context Extraction).

Coordinates: points are in a level's normalized map frame, x and y in [-1, 1] with the
`grid_sample(align_corners=True)` convention: -1 / +1 are the centres of the first / last pixel, so pixel
column `i` of a W-wide map sits at `2 i / (W - 1) - 1`. Off-map samples take the border value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lifters.models.transformer import DropPath, Mlp


def sample_points(fmap: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of `fmap` (B, C, H, W) at `points` (B, N, 2) normalized (x, y) -> (B, N, C)."""
    out = F.grid_sample(fmap, points.unsqueeze(2).to(fmap.dtype), mode="bilinear",
                        padding_mode="border", align_corners=True)  # (B, C, N, 1)
    return out.squeeze(-1).transpose(1, 2)


def grid_init(heads: int, points: int, radius: float) -> torch.Tensor:
    """(heads, points, 2) initial offsets: head m points along angle 2*pi*m/heads (scaled onto the unit
    square as Deformable DETR does), point k at distance (k + 1) * radius along it (normalized units)."""
    theta = torch.arange(heads, dtype=torch.float64) * (2.0 * math.pi / heads)
    d = torch.stack([theta.cos(), theta.sin()], -1)
    d = d / d.abs().max(-1, keepdim=True).values
    steps = torch.arange(1, points + 1, dtype=torch.float64)[None, :, None]
    return (d[:, None, :] * steps * radius).float()


class DeformableContextLayer(nn.Module):
    """One Deformable Context Extraction layer over L feature levels.

    For joint j and level l the query is LN(level token + pose token). It predicts, per head m and point k,
    an offset `tanh(.)` (normalized units, so at most half a map away) around the reference joint and a
    weight (softmax over the K points of that head and level, as CA-PF's formula). Values are the maps
    projected to `dim` channels per level (1x1 projection, split into `heads` slices of dim/heads); head m
    reads its slice at its K points. Sampling first and projecting the samples is the same linear map as
    projecting the whole map and sampling it (border padding, weights sum to 1) at a fraction of the cost.
    Then a residual and a pre-norm MLP, as a transformer block.

    Shapes: tokens (B, J, L, dim), pose (B, J, dim), ref (B, J, 2), maps L x (B, C_l, H_l, W_l)
    -> (B, J, L, dim).
    """

    def __init__(self, level_channels: Sequence[int], dim: int = 128, heads: int = 4, points: int = 4,
                 mlp_ratio: float = 2.0, drop_path: float = 0.0, init_radius: float = 0.01) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by deformable heads {heads}")
        self.levels = len(level_channels)
        self.heads, self.points, self.dim = heads, points, dim
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.sampling_offsets = nn.Linear(dim, heads * points * 2)
        self.attention_weights = nn.Linear(dim, heads * points)
        self.value_proj = nn.ModuleList(nn.Linear(c, dim) for c in level_channels)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)
        self._reset(init_radius)

    def _reset(self, radius: float) -> None:
        init = grid_init(self.heads, self.points, radius).clamp(-0.999, 0.999)
        nn.init.zeros_(self.sampling_offsets.weight)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(torch.atanh(init).flatten())  # tanh(bias) = init offsets
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)

    def locations_and_weights(self, tokens: torch.Tensor, pose: torch.Tensor,
                              ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampling locations (B, J, L, heads, points, 2) normalized, and weights (B, J, L, heads, points)."""
        b, j, lv, _ = tokens.shape
        q = self.norm1(tokens + pose.unsqueeze(2))
        off = self.sampling_offsets(q).view(b, j, lv, self.heads, self.points, 2).tanh()
        w = self.attention_weights(q).view(b, j, lv, self.heads, self.points).softmax(dim=-1)
        return ref[:, :, None, None, None, :] + off, w

    def gather(self, maps: Sequence[torch.Tensor], loc: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Weighted per-head sums of projected samples: (B, J, L, dim)."""
        b, j, lv, h, k, _ = loc.shape
        d = self.dim // h
        out = []
        for level, (fmap, proj) in enumerate(zip(maps, self.value_proj, strict=True)):
            s = sample_points(fmap, loc[:, :, level].reshape(b, j * h * k, 2)).view(b, j, h, k, -1)
            weight = proj.weight.view(h, d, -1)  # head m owns output channels m*d .. (m+1)*d
            v = torch.einsum("bjhkc,hdc->bjhkd", s, weight) + proj.bias.view(h, 1, d)
            out.append((w[:, :, level, :, :, None] * v).sum(dim=3).reshape(b, j, self.dim))
        return torch.stack(out, dim=2)

    def forward(self, tokens: torch.Tensor, pose: torch.Tensor, ref: torch.Tensor,
                maps: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(maps) != self.levels:
            raise ValueError(f"expected {self.levels} feature levels, got {len(maps)}")
        loc, w = self.locations_and_weights(tokens, pose, ref)
        tokens = tokens + self.drop_path(self.gather(maps, loc, w))
        return tokens + self.drop_path(self.mlp(self.norm2(tokens)))
