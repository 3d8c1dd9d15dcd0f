"""Training configuration: defaults, the model's keyword config from the store, and resume merging."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from lifters.loader import default_workers
from lifters.models.base import Lifter
from lifters.models.registry import MODELS, build_model
from lifters.recipes import get_recipe
from lifters.schedule import LrSchedule
from lifters.window import check_window
from schemas.errors import InputError
from storage.reader import Reader

# Options a resumed run must keep (they define the optimisation trajectory); others may change on resume.
FIXED_ON_RESUME = ("model", "dataset", "keypoints", "backbone", "train_stride", "batch_size", "lr", "schedule",
                   "optimizer", "weight_decay", "offset_lr_scale", "seed", "flip_aug", "model_cfg", "frames",
                   "protocol", "target")


@dataclass
class TrainConfig:
    """One training run. The field defaults are the `quick` recipe (lifters.recipes.QUICK); `resolve_config`
    builds the config of a named recipe with the flags given on top. lr: base rate of `optimizer` (adam | adamw;
    CA-PF offset layers get `offset_lr_scale` x); schedule: `lifters.schedule.LrSchedule` as a dict (per-epoch
    exponential and step decays); keypoints: the 2D source ("paper": the protocol's, resolved on the store; "gt";
    a backbone or imported name); train_stride / test_stride: every k-th source frame of the train / test split;
    protocol: named split (None: the dataset's standard one); target: 3D target annot3 | univ (None: the dataset's
    standard one); flip_aug / flip_test: flip augmentation (p = 0.5) / flip-test at evaluation; eval_every: steps
    between test-split evaluations (0: at every epoch end); max_steps: the run's length in optimizer steps, past
    the epochs if need be (None: epochs decide); workers: loader processes (0: read in the training process;
    default: lifters.loader.default_workers(), from the cores available); frames: window length T of
    temporal models (odd; 1 for single-frame models); overrides: the fields set by flags over the recipe."""

    model: str
    cache: str
    out: str
    recipe: str = "quick"
    optimizer: str = "adamw"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 6.4e-4
    schedule: dict[str, Any] = field(default_factory=lambda: LrSchedule(gamma=0.99).as_dict())
    weight_decay: float = 0.1
    offset_lr_scale: float = 0.1
    max_steps: int | None = None
    device: str = "cpu"
    seed: int = 0
    dataset: str | None = None
    keypoints: str = "gt"
    backbone: str | None = None
    train_stride: int = 1
    test_stride: int = 1
    protocol: str | None = None
    target: str | None = None
    flip_aug: bool = False
    flip_test: bool = False
    workers: int = field(default_factory=default_workers)
    eval_every: int = 0
    eval_batch_size: int = 128
    model_cfg: dict[str, Any] = field(default_factory=dict)
    frames: int = 1
    joint_set: str | None = None
    overrides: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def lr_schedule(self) -> LrSchedule:
        return LrSchedule.from_dict(self.schedule)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """From `as_dict` output; runs saved before recipes (lr_decay, frame_stride) read as they trained."""
        d = dict(d)
        if "lr_decay" in d and "schedule" not in d:
            d["schedule"] = LrSchedule(gamma=float(d["lr_decay"])).as_dict()
        if "frame_stride" in d and "train_stride" not in d:
            d["train_stride"] = d["test_stride"] = d["frame_stride"]
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def check(self) -> None:
        """InputError for values no run can use."""
        if self.model not in MODELS:
            raise InputError(f"unknown model {self.model!r}; valid models: {', '.join(sorted(MODELS))}")
        for name in ("epochs", "batch_size", "train_stride", "test_stride", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise InputError(f"--max-steps must be >= 1, got {self.max_steps}")
        if self.lr <= 0:
            raise InputError(f"--lr must be > 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        self.lr_schedule  # noqa: B018 - validates the schedule (InputError)
        if self.eval_every < 0 or self.workers < 0:
            raise InputError("--eval-every and --workers must be >= 0")
        check_window(self.frames)
        if self.frames > 1 and not MODELS[self.model].temporal:
            temporal = sorted(k for k, m in MODELS.items() if m.temporal)
            raise InputError(f"--frames {self.frames}: {self.model} is a single-frame model; temporal models: "
                             f"{', '.join(temporal)}")


OPTIMIZERS = ("adam", "adamw")


def resolve_config(model: str, recipe: str, given: dict[str, Any], lr_decay: float | None = None,
                   lr_step: str | None = None, warmup_epochs: int | None = None) -> TrainConfig:
    """The TrainConfig of `recipe` ("paper" | "quick") for `model`, the non-None `given` flags on top (recipe <
    flags); `lr_decay` replaces the schedule's per-epoch factor, `lr_step` "K:F" its step decay (x F every K
    epochs), `warmup_epochs` its linear warm-up. `overrides` lists the recipe fields the flags set."""
    r = get_recipe(model, recipe)
    base = r.config_fields()
    if model in MODELS and not MODELS[model].temporal:
        base["frames"] = 1
    flags = {k: v for k, v in given.items() if v is not None}
    changes: dict[str, Any] = {}
    if lr_decay is not None:
        changes["gamma"] = float(lr_decay)
    if lr_step is not None:
        changes.update(_parse_lr_step(lr_step))
    if warmup_epochs is not None:
        changes["warmup_epochs"] = int(warmup_epochs)
    if changes:
        flags["schedule"] = replace(r.schedule, **changes).as_dict()
    overrides = sorted(k for k in flags if k in base)
    return TrainConfig(model=model, **{**base, **flags, "recipe": recipe, "overrides": overrides})


def _parse_lr_step(text: str) -> dict[str, Any]:
    try:
        k, f = text.split(":")
        return {"step_every": int(k), "step_factor": float(f), "milestones": ()}
    except ValueError:
        raise InputError(f"--lr-step must be EVERY:FACTOR (x FACTOR every EVERY epochs, e.g. 4:0.9), got "
                         f"{text!r}") from None


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
