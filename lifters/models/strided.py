"""Strided Transformer / Lifting Transformer (Li et al., TMM'22): T frames of 2D joints -> 3D of the centre frame.

Inputs (batch keys): `kp2d_seq` (B, T, J, 2) screen-normalized 2D of a window centred on the target frame
(`kp2d` (B, J, 2) when T = 1). Outputs: the full sequence (B, T, J, 3) from the VTE head (used by the loss only)
and the centre frame (B, J, 3) from the STE head, root-relative metres.

Architecture (the paper's Sec. 3-4.2): each frame's J x 2 coordinates are concatenated, Linear -> d_m = 256, plus
a learnable positional embedding; VTE: 3 pre-norm transformer layers (8 heads, FFN d_f = 512) over the T frames,
then LayerNorm + Linear -> J x 3 per frame; STE: 3 layers of self-attention + a convolutional FFN (Conv1d kernel 1
to d_f, then a strided Conv1d back to d_m) with strides s_f ({3,3,3} for T=27, {3,3,9} for 81, {3,9,9} for 243),
each layer with its own learnable positional embedding; the residual of the FFN is sliced to the strided length.
Loss: MPJPE over the whole window (VTE) + MPJPE of the centre frame (STE), weights 1 and 1.

Choices where the paper is not explicit: the strided convolution's kernel is 1 by default ("the kernel size ...
set to 1 in all STE layers"; it also reproduces the paper's 3.22 M parameters at T = 27, where kernel 3 gives
~4.0 M; `kernel=3` is the official code's choice). Output step t of a layer with stride s is centred on input
frame s t + s // 2 (odd kernel, 'same' padding, the conv and the sliced residual both start at s // 2), so with
the strides' product = T the single STE output is exactly the centre (target) frame. Pre-norm layers, GELU and
dropout 0.1 follow the official implementation's transformer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lifters.losses import mpjpe_loss
from lifters.models.base import Lifter
from lifters.models.transformer import DropPath, Encoder, SelfAttention
from lifters.window import check_window
from schemas.errors import InputError

PAPER_STRIDES: dict[int, list[int]] = {27: [3, 3, 3], 81: [3, 3, 9], 243: [3, 9, 9]}


def default_strides(frames: int, layers: int = 3) -> list[int]:
    """STE strides for a T-frame window: T's prime factors, the two smallest merged until `layers` remain,
    padded with 1s, ascending (27 -> [3, 3, 3], 81 -> [3, 3, 9], 243 -> [3, 9, 9], 9 -> [1, 3, 3]).
    InputError for an even T (the target frame must be the centre) or more factors than layers allow."""
    check_window(frames)
    factors, n, p = [], frames, 3
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 2
    while len(factors) > layers:
        factors.sort()
        factors = [factors[0] * factors[1], *factors[2:]]
    return sorted([1] * (layers - len(factors)) + factors)


def check_strides(frames: int, strides: list[int]) -> list[int]:
    """The strides as ints; InputError unless each is >= 1 and their product is `frames`."""
    strides = [int(s) for s in strides]
    if not strides or any(s < 1 for s in strides) or math.prod(strides) != frames:
        raise InputError(f"strided: strides {strides} must be >= 1 with product = --frames {frames} "
                         f"(e.g. {PAPER_STRIDES.get(frames) or default_strides(frames)})")
    return strides


class StridedLayer(nn.Module):
    """x + Attn(LN(x)), then x[:, s//2::s] + Conv(k, stride s)(GELU(Conv1x1(LN(x)))) centred on the same frames:
    (B, T, d) -> (B, T / s, d)."""

    def __init__(self, dim: int, hidden: int, heads: int, stride: int, kernel: int = 1, drop: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.stride = stride
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, heads, drop=drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.w1 = nn.Conv1d(dim, hidden, kernel_size=1)
        self.act = nn.GELU()
        if kernel < 1 or kernel % 2 == 0:
            raise InputError(f"strided: the STE kernel must be odd, got {kernel}")
        self.w2 = nn.Conv1d(hidden, dim, kernel_size=kernel, stride=stride, padding=(kernel - 1) // 2)
        self.drop = nn.Dropout(drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        s = self.stride
        h = self.drop(self.act(self.w1(self.norm2(x).transpose(1, 2))))
        y = self.w2(h[:, :, s // 2:]).transpose(1, 2)
        return x[:, s // 2::s] + self.drop_path(self.drop(y))


class StridedTransformer(Lifter):
    """Lifting Transformer with VTE + STE; see the module docstring."""

    temporal = True

    def __init__(self, num_joints: int = 17, frames: int = 27, strides: list[int] | None = None, dim: int = 256,
                 hidden: int = 512, heads: int = 8, vte_depth: int = 3, kernel: int = 1, drop: float = 0.1,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.num_joints, self.frames = num_joints, int(frames)
        self.strides = check_strides(self.frames, strides if strides is not None else default_strides(self.frames))
        self.embed = nn.Linear(num_joints * 2, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.frames, dim))
        self.drop = nn.Dropout(drop)
        self.vte = Encoder(dim, vte_depth, heads, hidden / dim, drop, drop_path)
        self.vte_head = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, num_joints * 3))
        lengths = [self.frames // math.prod(self.strides[:i]) for i in range(len(self.strides))]
        self.ste_pos = nn.ParameterList(nn.Parameter(torch.zeros(1, n, dim)) for n in lengths)
        self.ste = nn.ModuleList(StridedLayer(dim, hidden, heads, s, kernel, drop, drop_path) for s in self.strides)
        self.head = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, num_joints * 3))
        for p in (self.pos_embed, *self.ste_pos):
            nn.init.trunc_normal_(p, std=0.02)

    def forward(self, kp2d_seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, J, 2) -> full sequence (B, T, J, 3) (VTE) and centre frame (B, J, 3) (STE), metres."""
        b, t = kp2d_seq.shape[:2]
        if kp2d_seq.ndim != 4 or kp2d_seq.shape[1:] != (self.frames, self.num_joints, 2):
            raise InputError(f"kp2d_seq has shape {tuple(kp2d_seq.shape)}, expected "
                             f"(B, {self.frames}, {self.num_joints}, 2)")
        x = self.drop(self.embed(kp2d_seq.reshape(b, t, -1)) + self.pos_embed)
        x = self.vte(x)
        full = self.vte_head(x).reshape(b, t, self.num_joints, 3)
        for pos, layer in zip(self.ste_pos, self.ste, strict=True):
            x = layer(x + pos)
        return full, self.head(x[:, 0]).reshape(b, self.num_joints, 3)

    def _window(self, batch: dict) -> torch.Tensor:
        return batch["kp2d_seq"] if "kp2d_seq" in batch else batch["kp2d"].unsqueeze(1)

    def predict_batch(self, batch: dict) -> torch.Tensor:
        """(B, J, 3) centre-frame prediction (STE), metres."""
        return self(self._window(batch))[1]

    def loss_batch(self, batch: dict) -> torch.Tensor:
        """MPJPE of the whole window (VTE output vs `target_seq`) + MPJPE of the centre frame (STE), metres."""
        full, centre = self(self._window(batch))
        target_seq = batch["target_seq"] if "target_seq" in batch else batch["target"].unsqueeze(1)
        return mpjpe_loss(full, target_seq) + mpjpe_loss(centre, batch["target"])
