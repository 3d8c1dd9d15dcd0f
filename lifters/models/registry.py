"""Lifter models by name: `build_model("capf", num_joints=17)`."""

from __future__ import annotations

from typing import Any

from lifters.models.base import Lifter
from lifters.models.capf import ContextAwarePoseFormer
from lifters.models.capf_s import ContextAwarePoseFormerS
from lifters.models.cdl import CascadedDimensionLifting
from lifters.models.plt import PLT
from lifters.models.poseformer import PoseFormer
from lifters.models.strided import StridedTransformer
from schemas.errors import InputError

MODELS: dict[str, type[Lifter]] = {
    "capf": ContextAwarePoseFormer,
    "poseformer": PoseFormer,
    "strided": StridedTransformer,
    "capf-s": ContextAwarePoseFormerS,
    "plt": PLT,
    "cdl": CascadedDimensionLifting,
}


def build_model(name: str, **cfg: Any) -> Lifter:
    """Instantiate model `name` with keyword config `cfg`; InputError listing valid names if unknown."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}") from None
    return cls(**cfg)
