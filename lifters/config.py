"""Training configuration: defaults, the model's keyword config from the store, and resume merging."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lifters.data import default_workers
from lifters.models.base import Lifter
from lifters.models.registry import MODELS, build_model
from lifters.window import check_window
from schemas.errors import InputError
from storage.reader import Reader

# Options a resumed run must keep (they define the optimisation trajectory); others may change on resume.
FIXED_ON_RESUME = ("model", "dataset", "keypoints", "backbone", "frame_stride", "batch_size", "lr", "lr_decay",
                   "weight_decay", "offset_lr_scale", "seed", "flip_aug", "model_cfg", "frames")


@dataclass
class TrainConfig:
    """One training run. lr: AdamW base rate (offset layers get `offset_lr_scale` x); lr_decay: exponential,
    per epoch; eval_every: steps between test-split evaluations (0: at every epoch end); max_steps: cap on the
    total optimizer steps (None: epochs decide); workers: loader processes (0: read in the training process;
    default: lifters.data.default_workers(), from the cores available);
    frames: window length T of temporal models (odd; 1 for single-frame models)."""

    model: str
    cache: str
    out: str
    epochs: int = 20
    batch_size: int = 64
    lr: float = 6.4e-4
    lr_decay: float = 0.99
    weight_decay: float = 0.1
    offset_lr_scale: float = 0.1
    max_steps: int | None = None
    device: str = "cpu"
    seed: int = 0
    dataset: str | None = None
    keypoints: str = "gt"
    backbone: str | None = None
    frame_stride: int = 1
    flip_aug: bool = False
    workers: int = field(default_factory=default_workers)
    eval_every: int = 0
    eval_batch_size: int = 128
    model_cfg: dict[str, Any] = field(default_factory=dict)
    frames: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def check(self) -> None:
        """InputError for values no run can use."""
        if self.model not in MODELS:
            raise InputError(f"unknown model {self.model!r}; valid models: {', '.join(sorted(MODELS))}")
        for name in ("epochs", "batch_size", "frame_stride", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise InputError(f"--max-steps must be >= 1, got {self.max_steps}")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1:
            raise InputError(f"--lr must be > 0 and lr_decay in (0, 1]; got {self.lr}, {self.lr_decay}")
        if self.eval_every < 0 or self.workers < 0:
            raise InputError("--eval-every and --workers must be >= 0")
        check_window(self.frames)
        if self.frames > 1 and not MODELS[self.model].temporal:
            temporal = sorted(k for k, m in MODELS.items() if m.temporal)
            raise InputError(f"--frames {self.frames}: {self.model} is a single-frame model; temporal models: "
                             f"{', '.join(temporal)}")


def resumed_config(saved: dict[str, Any], given: dict[str, Any]) -> TrainConfig:
    """The saved run's config updated by the options `given` on the command line; InputError if a given
    option would change the optimisation trajectory (FIXED_ON_RESUME)."""
    diff = [f"{k}: saved {saved.get(k)!r}, given {v!r}" for k, v in given.items()
            if k in FIXED_ON_RESUME and v is not None and saved.get(k) != v]
    if diff:
        raise InputError("--resume continues the saved run, but these options differ from it: " + "; ".join(diff)
                         + "; drop them or start a new run with another --out")
    merged = {**saved, **{k: v for k, v in given.items() if v is not None}}
    return TrainConfig.from_dict(merged)


def model_kwargs(name: str, reader: Reader, overrides: dict[str, Any], frames: int = 1) -> dict[str, Any]:
    """Keyword config for `build_model(name, ...)`: joint count from the store, the backbone's levels (name ->
    channels, in map order) for context models and joint-feature models, `frames` for temporal models, then
    `overrides` (e.g. dim, depth)."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}")
    model = MODELS[name]
    kw: dict[str, Any] = {"num_joints": int(reader.attrs["num_joints"])}
    if model.needs_maps:
        kw["levels"] = {lv: int(shape[0]) for lv, shape in reader.levels.items()}
    if model.needs_joint_features:
        kw["levels"] = {lv: int(c) for lv, c in reader.joints_group().attrs["levels"].items()}
    if model.temporal:
        kw["frames"] = int(frames)
    if model.needs_joint_set:  # e.g. cdl: bones and the neck->knee scale
        kw["joint_set"] = str(reader.attrs["joint_set"])
    kw.update(overrides)
    return kw


def make_model(name: str, kwargs: dict[str, Any]) -> Lifter:
    """build_model with an InputError (not a TypeError) for a bad model config key."""
    try:
        return build_model(name, **kwargs)
    except TypeError as e:
        raise InputError(f"model {name!r}: bad model config {kwargs} ({e})") from None
