"""CA-PF-S: the temporal, small Context-Aware PoseFormer of CA-PF's Appendix C, on cached joint features.

Inputs (batch keys): `kp2d_seq` (B, T, J, 2) screen-normalized 2D of a window centred on the target frame and
`jfeat_seq` (B, T, J, D) float16, every feature level sampled at the joints (the store's
`backbones/<name>/joints/feat`, D = sum of the level channels in map order); with T = 1 `kp2d` / `joint_features`.
Output (B, J, 3): root-relative 3D of the centre frame, metres.

Per frame, as CA-PF without the Deformable Context Extraction (the paper precomputes the context vectors at the
detected joints and drops that module): a pose token Linear(2 -> C) and one context token per level
Linear(C_l -> C) (shared across joints and frames), a Unified Positional Embedding (1, J, L + 1, C); Pose-Context
Feature Fusion (a transformer per joint over its L + 1 tokens); Spatial Inter-joint Modeling (a transformer over
the J tokens of width (L + 1) C). Then the Temporal Transformer, per joint over the T frames (tokens of width
(L + 1) C, a learnable frame embedding), and as PoseFormer a 1D convolution over the frames (T -> 1, kernel 1)
and LayerNorm + Linear -> 3 for the centre frame. The paper says C is reduced for CA-PF-S without a value and that
CA-PF-S "has fewer FLOPs" than CA-PF: C = 16 here (width 80 with 4 levels), depths 4 / 4 / 4 and 8 heads as CA-PF,
so that at T = 27 it costs 0.450 GFLOPs per centre frame (0.44 M parameters) against capf's 0.613 GFLOPs
(14.28 M); C = 32 cost 1.726 GFLOPs (2.8x capf), C = 24 0.985 (FLOPs = 2 x multiply-adds, `lifters.flops`;
tests/test_recipes.py asserts the order).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from lifters.models.base import Lifter
from lifters.models.capf import W32_CHANNELS
from lifters.models.transformer import Encoder
from lifters.window import check_window
from schemas.errors import InputError


class ContextAwarePoseFormerS(Lifter):
    """CA-PF-S; see the module docstring. `levels` maps level name -> channel count, in the feature order."""

    needs_joint_features = True
    temporal = True

    def __init__(self, num_joints: int = 17, levels: Mapping[str, int] | None = None, frames: int = 27,
                 dim: int = 16, depth: int = 4, temporal_depth: int = 4, heads: int = 8, mlp_ratio: float = 2.0,
                 drop: float = 0.0, drop_path: float = 0.1) -> None:
        super().__init__()
        check_window(frames)
        self.levels = dict(levels if levels is not None else W32_CHANNELS)
        self.num_joints, self.frames = num_joints, int(frames)
        n_tok = len(self.levels) + 1
        width = n_tok * dim
        self.pose_embed = nn.Linear(2, dim)
        self.level_embed = nn.ModuleList(nn.Linear(c, dim) for c in self.levels.values())
        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, n_tok, dim))
        self.fusion = Encoder(dim, depth, heads, mlp_ratio, drop, drop_path)
        self.spatial = Encoder(width, depth, heads, mlp_ratio, drop, drop_path)
        self.frame_embed = nn.Parameter(torch.zeros(1, self.frames, width))
        self.temporal_enc = Encoder(width, temporal_depth, heads, mlp_ratio, drop, drop_path)
        self.reduce = nn.Conv1d(self.frames, 1, kernel_size=1)
        self.head = nn.Sequential(nn.LayerNorm(width, eps=1e-6), nn.Linear(width, 3))

    def forward(self, kp2d_seq: torch.Tensor, jfeat_seq: torch.Tensor) -> torch.Tensor:
        """(B, T, J, 2) and (B, T, J, D) -> (B, J, 3) centre frame, metres."""
        b, t, j = kp2d_seq.shape[:3]
        d = sum(self.levels.values())
        if kp2d_seq.shape[1:] != (self.frames, self.num_joints, 2) or jfeat_seq.shape != (b, t, j, d):
            raise InputError(f"kp2d_seq {tuple(kp2d_seq.shape)} / jfeat_seq {tuple(jfeat_seq.shape)}: expected "
                             f"(B, {self.frames}, {self.num_joints}, 2) and (B, {self.frames}, {self.num_joints}, "
                             f"{d}) (levels {self.levels})")
        feats = torch.split(jfeat_seq.to(self.pose_embed.weight.dtype), list(self.levels.values()), dim=-1)
        tokens = [self.pose_embed(kp2d_seq), *(emb(f) for emb, f in zip(self.level_embed, feats, strict=True))]
        x = torch.stack(tokens, dim=3) + self.pos_embed  # (B, T, J, L+1, C)
        c = x.shape[-1]
        x = self.fusion(x.reshape(b * t * j, -1, c)).reshape(b * t, j, -1)  # (B T, J, W)
        x = self.spatial(x)
        w = x.shape[-1]
        x = x.reshape(b, t, j, w).transpose(1, 2).reshape(b * j, t, w) + self.frame_embed
        x = self.reduce(self.temporal_enc(x))  # (B J, 1, W)
        return self.head(x.reshape(b, j, w))

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if "kp2d_seq" in batch:
            return batch["kp2d_seq"], batch["jfeat_seq"]
        return batch["kp2d"].unsqueeze(1), batch["joint_features"].unsqueeze(1)

    def predict_batch(self, batch: dict) -> torch.Tensor:
        """(B, J, 3) centre-frame prediction, metres."""
        return self(*self._inputs(batch))
