"""Checks shared by the lifters that read one cached map level (plt, cdl): the level exists, the batch fits."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from schemas.errors import InputError


def choose_level(model: str, levels: Mapping[str, int] | None, level: str, default: Mapping[str, int]) -> int:
    """Channel count of `level` among `levels` (name -> channels; `default` when None); InputError naming
    the levels that exist otherwise."""
    have = dict(levels if levels is not None else default)
    if level not in have:
        raise InputError(f"{model}: map level {level!r} is not in the store's backbone maps (levels: "
                         f"{', '.join(have) or 'none'}); pass --model-cfg '{{\"level\": \"NAME\"}}' with one of them")
    return int(have[level])


def level_map(maps: Mapping[str, torch.Tensor] | None, level: str, channels: int, batch: int,
              dtype: torch.dtype) -> torch.Tensor:
    """`maps[level]` (B, C, H, W) cast to `dtype` (stored maps are float16); InputError if it is missing or
    its batch/channel sizes differ from (batch, channels)."""
    if maps is None or level not in maps:
        raise InputError(f"feature maps lack level {level!r}; got {list(maps or {})}")
    m = maps[level]
    if m.ndim != 4 or m.shape[0] != batch or m.shape[1] != channels:
        raise InputError(f"map {level!r} has shape {tuple(m.shape)}, expected ({batch}, {channels}, H, W)")
    return m.to(dtype)
