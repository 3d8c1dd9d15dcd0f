"""Model cost: FLOPs via `torch.utils.flop_counter.FlopCounterMode` (1 multiply-add = 2 FLOPs) and
parameter counts. grid_sample, softmax, norms and activations are not counted by the flop counter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lifters.data import to_torch
from lifters.models.base import Lifter


def count_flops(model: nn.Module, example_inputs: tuple[Any, ...] | Mapping[str, Any]) -> int:
    """FLOPs of one forward pass in eval mode, no grad, on `example_inputs` (positional tuple or kwargs)."""
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            if isinstance(example_inputs, Mapping):
                model(**example_inputs)
            else:
                model(*example_inputs)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def count_batch_flops(model: Lifter, batch: dict) -> int:
    """FLOPs of one forward pass on a (CPU) batch dict through the trainer's interface (`predict_batch`)."""
    return count_flops(_BatchForward(model), (batch,))


class _BatchForward(nn.Module):
    def __init__(self, model: Lifter) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict) -> torch.Tensor:
        return self.model.predict_batch(batch)


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (trainable only by default)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def run_cost(trainer: Any) -> dict[str, int]:
    """Cost of a set-up (not yet trained) `lifters.train.Trainer`'s model, what `pipeline train --dry-run` prints:
    {"params": trainable, "params_total": incl. frozen (e.g. plt stage 2's coarse stage), "flops": one forward
    pass of one test sample through the trainer's interface}."""
    batch = to_torch(trainer.test_data.batch([0]))
    return {"params": count_params(trainer.model), "params_total": count_params(trainer.model, trainable_only=False),
            "flops": count_batch_flops(trainer.model, batch)}
