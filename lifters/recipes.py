"""The papers' training recipes as data, one per lifter, each field with the paper section it comes from.

`pipeline train MODEL` uses `RECIPES[MODEL]` (the paper's recipe) unless `--recipe quick` (the small CPU recipe of
the demo and the tests); every field can still be overridden by its flag (`lifters.config.resolve_config`: recipe
< explicit flags). Store-dependent fields are resolved when the store is opened (`lifters.protocol`):
- `keypoints` "paper": the paper's detections on H36M (the imported `cpn` source when the store has it, else the
  store backbone's own detections, with a notice naming `pipeline import-2d`), GT 2D on 3DHP (as the papers);
- `flip_aug` / `flip_test` of map or joint-feature models: on only when the store has flipped maps (a notice says
  so when it lacks them); 2D-only models flip the 2D and need nothing stored;
- `train_stride` / `test_stride` are in source frames (H36M 50 Hz: 10 = 5 fps) and become row strides through the
  store's extraction `frame_stride`;
- `protocol` None: the dataset's standard split (`schemas.splits.DEFAULT_PROTOCOL`); `target` None: the dataset's
  standard 3D target (3DHP: `univ_annot3`, as the official evaluation and the papers' tables).
Papers: `../shared/papers/` (CA-PF = Context-Aware PoseFormer, CVPR'23; ST = Strided/Lifting Transformer, TMM'22
arXiv text; PLT = Lifting by Image; CDL = Cascaded Dimension-Lifting, AAAI'21); code: the official repositories.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from lifters.schedule import LrSchedule
from schemas.errors import InputError

PAPER_2D = "paper"  # keypoints placeholder: the paper's 2D source for the dataset (resolved on the store)


@dataclass(frozen=True)
class Recipe:
    """One training recipe. Units: lr per step; strides in source frames; `frames` = window T (1: single frame).
    `cites` maps a field name to where its value comes from (paper section / table, or official code)."""

    name: str
    optimizer: str = "adamw"
    lr: float = 6.4e-4
    weight_decay: float = 0.1
    offset_lr_scale: float = 0.1
    schedule: LrSchedule = field(default_factory=lambda: LrSchedule(gamma=0.99))
    batch_size: int = 64
    epochs: int = 20
    frames: int = 1
    flip_aug: bool = False
    flip_test: bool = False
    keypoints: str = PAPER_2D
    train_stride: int = 1
    test_stride: int = 1
    protocol: str | None = None
    target: str | None = None
    cites: dict[str, str] = field(default_factory=dict)

    def config_fields(self) -> dict[str, Any]:
        """The TrainConfig fields this recipe sets (schedule as its dict)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("name", "cites")}
        out["schedule"] = self.schedule.as_dict()
        out["recipe"] = self.name
        return out


_CAPF = Recipe(
    name="capf (CA-PF, CVPR'23)", optimizer="adamw", lr=6.4e-3, weight_decay=0.1, offset_lr_scale=0.1,
    schedule=LrSchedule(gamma=0.99), batch_size=512, epochs=50, frames=1, flip_aug=True, flip_test=True,
    cites={"optimizer": "CA-PF App. B 'Training details' (AdamW)",
           "lr": "CA-PF App. B: 6.4e-3 (the official config uses 6.4e-4, 3.2e-4 with CPN)",
           "weight_decay": "official code (AdamW wd 0.1); the paper is silent",
           "offset_lr_scale": "CA-PF App. E 'More details': offset layers at 6.4e-4 = 0.1x",
           "schedule": "CA-PF App. B: exponential decay 0.99 (per epoch, the official code)",
           "batch_size": "CA-PF App. B: 512", "epochs": "CA-PF App. B: 50",
           "flip_aug": "official code: image flip p=0.5 (needs `extract --flip` maps)",
           "flip_test": "official code evaluates with flip-test (needs `extract --flip` maps)",
           "keypoints": "CA-PF Table 1 (2D detector CPN on H36M); GT 2D on 3DHP (Sec. 4.2, settings of P-STMO)",
           "protocol": "H36M S1,5,6,7,8 / S9,11; 3DHP S1-8 / TS1-6 valid frames"})

_STRIDED = Recipe(
    name="strided (Strided Transformer, TMM'22)", optimizer="adam", lr=1e-3, weight_decay=0.0, offset_lr_scale=1.0,
    schedule=LrSchedule(gamma=0.95, step_every=5, step_factor=0.5, step_replaces_gamma=True),
    batch_size=256, epochs=20, frames=243, flip_aug=True, flip_test=True,
    cites={"optimizer": "ST Sec. 4.2 'Implementation details': Adam", "lr": "ST Sec. 4.2: 1e-3",
           "schedule": "ST Sec. 4.2: x0.95 per epoch, x0.5 every 5 epochs (official common/opt.py: the x0.5 "
                       "replaces the x0.95 on every 5th epoch)",
           "batch_size": "ST Sec. 4.2: 256 (H36M)", "epochs": "official common/opt.py: 20 (the paper is silent)",
           "frames": "ST Table 1: T = 243 (44.7 mm); Table 2 T = 27 / 81; CA-PF Table 1 cites T = 351 (TMM)",
           "flip_aug": "ST Sec. 4.2: horizontal flip at training", "flip_test": "ST Sec. 4.2: and at test",
           "keypoints": "ST Sec. 4.1 / Table 1: CPN detections on H36M"})

_PLT = Recipe(
    name="plt (Lifting by Image)", optimizer="adam", lr=1e-3, weight_decay=0.0, offset_lr_scale=1.0,
    schedule=LrSchedule(gamma=1.0, step_every=4, step_factor=0.9), batch_size=128, epochs=20,
    train_stride=10, test_stride=1,
    cites={"optimizer": "PLT 'Implementation Details': Adam", "lr": "PLT 'Implementation Details': 1e-3",
           "schedule": "PLT 'Implementation Details': x0.9 every 4 epochs",
           "batch_size": "PLT 'Implementation Details': 128",
           "epochs": "PLT 'Implementation Details': stage 1 for 20 epochs (stage 2: not stated, same here)",
           "train_stride": "PLT 'Datasets and Evaluation Metrics': H36M 50 -> 5 fps for training (every 10th frame)",
           "test_stride": "not stated: every frame", "flip_aug": "no augmentation mentioned",
           "keypoints": "PLT Table 2: CPN (also SH, GT) on H36M; GT 2D for 3DHP (Table 3)"})

_CDL = Recipe(
    name="cdl (Cascaded Dimension-Lifting, AAAI'21)", optimizer="adam", lr=1e-3, weight_decay=0.0,
    offset_lr_scale=1.0, schedule=LrSchedule(gamma=1.0, milestones=(16,), step_factor=0.1), batch_size=64,
    epochs=20, flip_aug=True, flip_test=False, train_stride=5, test_stride=64,
    cites={"optimizer": "CDL 'Implementation Details': Adam", "lr": "CDL: 1e-3",
           "schedule": "CDL: reduced by 10x at the 17th epoch", "batch_size": "CDL: 64", "epochs": "CDL: 20",
           "flip_aug": "CDL: rotation, horizontal flip, synthetic occlusion (flip only here; needs flipped maps)",
           "train_stride": "CDL Sec. 'Datasets': every 5th frame for training",
           "test_stride": "CDL: every 64th frame for testing",
           "protocol": "CDL: P1 S1,5,6,7,8 / S9,11; P2 (`--protocol cdl-p2`) S1,5,6,7,8,9 / S11",
           "keypoints": "CDL takes no 2D input (the 2D source only sets the heatmap targets)"})

RECIPES: dict[str, Recipe] = {
    "capf": _CAPF,
    # CA-PF Table 5's single-frame PoseFormer, the 2D-only control: CA-PF's recipe; flips need no maps
    "poseformer": replace(_CAPF, name="poseformer (CA-PF's 2D-only control)",
                          cites={**_CAPF.cites, "flip_aug": "2D flip, no maps needed",
                                 "flip_test": "2D flip, no maps needed"}),
    # CA-PF App. C: trained as CA-PF; Table 6's best row T = 27
    "capf-s": replace(_CAPF, name="capf-s (CA-PF App. C)", frames=27,
                      cites={**_CAPF.cites, "frames": "CA-PF App. C Table 6: T = 27 (40.2 mm)"}),
    "strided": _STRIDED,
    "plt": _PLT,
    "cdl": _CDL,
}

# The small CPU recipe of the demo and the tests: the project's earlier defaults (GT 2D, every frame, no flips).
QUICK = Recipe(name="quick (small CPU recipe, not a paper's)", optimizer="adamw", lr=6.4e-4, weight_decay=0.1,
               offset_lr_scale=0.1, schedule=LrSchedule(gamma=0.99), batch_size=64, epochs=20, frames=1,
               flip_aug=False, flip_test=False, keypoints="gt",
               cites={"keypoints": "GT 2D: fast and deterministic on synthetic stores; labelled 'GT 2D'"})

RECIPE_NAMES = ("paper", "quick")


def get_recipe(model: str, name: str = "paper") -> Recipe:
    """The recipe `name` ("paper": the model's paper recipe; "quick") for `model`; InputError if unknown."""
    if name == "quick":
        return QUICK
    if name != "paper":
        raise InputError(f"--recipe must be one of {', '.join(RECIPE_NAMES)}, got {name!r}")
    if model not in RECIPES:
        raise InputError(f"unknown model {model!r}; valid models: {', '.join(sorted(RECIPES))}")
    return RECIPES[model]
