"""Optimizer parameter groups: CA-PF trains its sampling-offset layers at 0.1x the base learning rate."""

from __future__ import annotations

from torch import nn

OFFSET_PARAM_KEY = "sampling_offsets"


def param_groups(model: nn.Module, lr: float, offset_lr_scale: float = 0.1) -> list[dict]:
    """AdamW-ready groups: [{"params": other, "lr": lr}, {"params": offsets, "lr": lr * scale}].

    Offsets are the parameters whose name contains "sampling_offsets"; the second group is left out when a
    model has none (e.g. poseformer). Frozen parameters (requires_grad False) are skipped.
    """
    base, offsets = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (offsets if OFFSET_PARAM_KEY in name else base).append(p)
    groups = [{"params": base, "lr": lr, "name": "base"}]
    if offsets:
        groups.append({"params": offsets, "lr": lr * offset_lr_scale, "name": OFFSET_PARAM_KEY})
    return groups
