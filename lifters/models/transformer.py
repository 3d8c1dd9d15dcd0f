"""Pre-norm transformer encoder block (ViT/PoseFormer style) shared by the lifters.

Attention is written as explicit matmuls so `torch.utils.flop_counter` counts it on every device.
"""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample with probability `p` in training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    """Linear -> GELU -> Linear, (..., dim) -> (..., dim)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens: (B, N, dim) -> (B, N, dim)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, drop: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = self.drop(((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.drop(self.proj(out))


class Block(nn.Module):
    """x + Attn(LN(x)); x + MLP(LN(x)). (B, N, dim) -> (B, N, dim)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0, drop: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, heads, drop=drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def drop_path_rates(max_rate: float, depth: int) -> list[float]:
    """Linearly increasing stochastic-depth rates 0 .. max_rate over `depth` layers."""
    if depth == 1:
        return [max_rate]
    return [max_rate * i / (depth - 1) for i in range(depth)]


class Encoder(nn.Module):
    """`depth` blocks of width `dim`: (B, N, dim) -> (B, N, dim)."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: float = 2.0, drop: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            Block(dim, heads, mlp_ratio, drop, r) for r in drop_path_rates(drop_path, depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x
