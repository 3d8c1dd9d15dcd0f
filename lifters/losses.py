"""Training losses (torch)."""

from __future__ import annotations

import torch


def mpjpe_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint Euclidean error, (..., J, 3) x2 -> scalar, in the input unit (metres in training)."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    return torch.linalg.vector_norm(pred - target, dim=-1).mean()
