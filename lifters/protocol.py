"""Store-dependent parts of a recipe: the 2D source, the 3D target, row strides and the flip decisions.

- 2D source (`keypoints` "paper"): H36M -> the imported `cpn` source when the store has it (`pipeline import-2d`),
  else the store backbone's own detections with a notice naming `pipeline import-2d`; never GT silently (a store
  with neither is an error naming both ways and `--keypoints gt`). 3DHP / MuCo -> GT 2D, as the papers.
- 3D target: `annot3` (rows/pose3d_cam, camera mm) or `univ` (rows/pose3d_univ, 3DHP's `univ_annot3`, the
  official evaluation's and the papers' tables' target); default `univ` on 3DHP, `annot3` elsewhere.
- strides: recipe strides are in source frames; a store extracted every k-th frame serves every (s / k)-th row.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from schemas.errors import InputError
from storage.reader import Reader
from storage.store import Store

if TYPE_CHECKING:
    from lifters.config import TrainConfig

PAPER_2D_SOURCE = "cpn"  # the name `pipeline import-2d --name cpn` gives the papers' CPN detections
TARGET_ARRAYS: dict[str, str] = {"annot3": "pose3d_cam", "univ": "pose3d_univ"}
DEFAULT_TARGET: dict[str, str] = {"3dhp": "univ"}
# The lifters' joint set per dataset, for runs saved before TrainConfig.joint_set existed.
DATASET_JOINT_SET: dict[str, str] = {"h36m": "h36m17", "3dhp": "mpi17", "muco": "muco21"}


def label_2d(keypoints: str) -> str:
    """How reports name a 2D source: 'GT 2D' or '<name> 2D (detected)'."""
    return "GT 2D" if keypoints == "gt" else f"{keypoints} 2D (detected)"


def paper_keypoints(cache: str | Path, dataset: str | None, backbone: str | None = None) -> tuple[str, str | None]:
    """(2D source name, notice or None) of the papers' protocol for the store's dataset (see the module doc)."""
    st = Store.open(Path(cache))
    names = st.datasets()
    name = dataset or (names[0] if len(names) == 1 else None)
    if name is None or name not in names:
        return "gt", None  # the Reader then names the datasets to choose from
    ds = st.dataset(name)
    if name != "h36m":
        return "gt", None
    if PAPER_2D_SOURCE in ds.imports():
        return PAPER_2D_SOURCE, None
    bbs = ds.backbones()
    bb = backbone if backbone in bbs else (bbs[0] if len(bbs) == 1 else None)
    how = (f"`pipeline import-2d --store {cache} --npz data_2d_h36m_cpn_ft_h36m_dbb.npz --name "
           f"{PAPER_2D_SOURCE}`")
    if bb is None:
        raise InputError(f"{cache}/h36m: the papers train on detected 2D (CPN) and the store has neither an imported "
                         f"'{PAPER_2D_SOURCE}' source nor a single backbone's detections (backbones: "
                         f"{', '.join(bbs) or 'none'}); run {how}, pass --keypoints NAME, or --keypoints gt for GT 2D")
    return bb, (f"2D source: {bb}'s own detections (the papers use CPN; import them with {how})")


def joint_feature_keypoints(reader: Reader, paper: str) -> tuple[str, str | None]:
    """(2D source, notice or None) of a joint-feature model (capf-s): the source its cached joint features were
    sampled at (`pipeline derive --keypoints`), with a notice when that is not the protocol's `paper` source."""
    sampled = str(reader.joints_group().attrs["keypoints"])
    if sampled == paper:
        return sampled, None
    return sampled, (f"2D source: {label_2d(sampled)}, the source the joint features were sampled at (the "
                     f"protocol's is {paper}: `pipeline derive {reader.path} --backbone {reader.backbone} "
                     f"--joint-features --keypoints {paper} --replace` samples at it)")


def check_joint_feature_keypoints(reader: Reader, keypoints: str) -> None:
    """InputError unless `keypoints` is the 2D source the store's joint features were sampled at: a joint-feature
    model's 2D input and its features must come from the same joints."""
    sampled = str(reader.joints_group().attrs["keypoints"])
    if keypoints != sampled:
        raise InputError(f"--keypoints {keypoints}: the joint features of {reader.path} ({reader.backbone}) were "
                         f"sampled at {label_2d(sampled)}, and the model's 2D must be the same source: pass "
                         f"--keypoints {sampled}, or resample them with `pipeline derive {reader.path} --backbone "
                         f"{reader.backbone} --joint-features --keypoints {keypoints} --replace`")


def target_array(dataset: str, target: str | None) -> str:
    """rows/<array> of the 3D target (`target` None: the dataset's standard one); InputError if unknown."""
    target = target or DEFAULT_TARGET.get(dataset, "annot3")
    if target not in TARGET_ARRAYS:
        raise InputError(f"--target must be one of {', '.join(TARGET_ARRAYS)}, got {target!r}")
    return TARGET_ARRAYS[target]


def row_stride(source_stride: int, store_stride: int, what: str) -> tuple[int, str | None]:
    """(row stride, notice or None): every `source_stride`-th source frame of a store holding every
    `store_stride`-th one (rounded when it does not divide, with a notice)."""
    if source_stride < 1:
        raise InputError(f"--{what.replace('_', '-')} must be >= 1, got {source_stride}")
    rows = max(1, round(source_stride / store_stride))
    if rows * store_stride == source_stride:
        return rows, None
    return rows, (f"{what}: every {source_stride}th source frame is not on the store's grid (extracted every "
                  f"{store_stride}th frame); using every {rows}th row = every {rows * store_stride}th frame")


def has_flipped_inputs(reader: Reader, needs_maps: bool, needs_joint_features: bool) -> bool:
    """Whether a model with these needs can read flipped samples: 2D-only models always (the 2D is mirrored);
    map models need `extract --flip` maps, joint-feature models `joints/flip/feat`."""
    if not (needs_maps or needs_joint_features) or reader.backbone is None:
        return not (needs_maps or needs_joint_features)
    bb = reader.group["backbones"][reader.backbone]
    if needs_maps:
        return bool(bb.attrs.get("flip", False))
    return "joints" in bb and "flip" in bb["joints"]


def resolve_flips(cfg: TrainConfig, reader: Reader, needs_maps: bool, needs_joint_features: bool) -> list[str]:
    """Turn the recipe's flip_aug / flip_test off when the store lacks flipped maps (notices returned); a flip
    asked for by flag stays on (the loader then names `pipeline extract --flip`)."""
    if has_flipped_inputs(reader, needs_maps, needs_joint_features):
        return []
    notes = []
    for name in ("flip_aug", "flip_test"):
        if getattr(cfg, name) and name not in cfg.overrides:
            setattr(cfg, name, False)
            notes.append(f"{name.replace('_', '-')} off: {reader.path}/{reader.dataset} has no flipped maps "
                         f"(`pipeline extract --flip` stores them, 2x map storage)")
    return notes
