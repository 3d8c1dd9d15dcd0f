"""The lifter contract: what a model reads from the store and how the trainer and evaluator call it.

Every model in `lifters.models.registry.MODELS` subclasses `Lifter`. The capability flags are class attributes,
read before a model is built (`MODELS["capf-s"].needs_joint_features`) to open the reader and build the model's
keyword config; `frames` and `map_levels` are read from the built model.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from lifters.losses import mpjpe_loss


class Lifter(nn.Module):
    """A 2D -> 3D lifter on a batch dict of the store's loader (`lifters.data.LiftingData`).

    Capabilities (class attributes): `needs_maps` (batches carry `maps` {level: (B, C, H, W)} and the model is
    built with `levels` {name: channels}), `needs_joint_features` (batches carry `joint_features` (B, J, D) /
    `jfeat_seq` (B, T, J, D), built with the joint-feature `levels`), `temporal` (built with `frames`; batches
    carry `T`-frame windows `kp2d_seq` (B, T, J, 2)), `needs_joint_set` (built with the store's `joint_set`).
    `frames`: window length T (1: single frame). `map_levels`: the map levels the model reads (None: all).
    """

    needs_maps: ClassVar[bool] = False
    needs_joint_features: ClassVar[bool] = False
    temporal: ClassVar[bool] = False
    needs_joint_set: ClassVar[bool] = False
    frames: int = 1
    map_levels: tuple[str, ...] | None = None

    def predict_batch(self, batch: dict) -> torch.Tensor:
        """(B, J, 3) metres, root-relative, for the batch's (centre) frames, from a device batch; by default
        `self(kp2d, ref, maps)`: (B, J, 2) screen-normalized 2D, (B, J, 2) map-normalized reference joints and
        the maps (None without `needs_maps`)."""
        return self(batch["kp2d"], batch["ref"], batch.get("maps"))

    def loss_batch(self, batch: dict) -> torch.Tensor:
        """Training loss (scalar) of a device batch; by default MPJPE of `predict_batch` against
        `batch["target"]` (metres). Models with auxiliary or multi-frame losses override it."""
        return mpjpe_loss(self.predict_batch(batch), batch["target"])
