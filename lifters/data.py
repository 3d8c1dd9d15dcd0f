"""Lifter data path over the store: opening a reader, split rows, batched reads, flip augmentation (loaders:
`lifters.loader`).

One `Reader.read` call serves a whole batch: `BatchKeys` yields keys `(positions (B,) int64, flip (B,) bool)`
and the DataLoader runs with `batch_size=None`, so `LiftingData[key]` returns a ready batch dict:
  kp2d   (B, J, 2) float32  screen-normalized 2D (`x / w * 2 - [1, h / w]`, each row's camera w, h)
  ref    (B, J, 2) float32  the same joints in map-normalized crop coordinates: image px -> crop px by the stored
                            affine -> `u / (W / 2) - 1, v / (H / 2) - 1` (CA-PF; grid_sample align_corners=True)
  target (B, J, 3) float32  root-relative camera-frame 3D in metres (root joint exactly 0)
  row, clip, frame (B,) int64 · flip (B,) bool · maps {level: (B, C, H, W) float16} when the model needs maps;
  joint_features (B, J, D) float16 (the cached maps sampled at the joints) when the model needs them.
Temporal models (`frames` T > 1) also get windows of T consecutive rows of the clip centred on each row, edge-padded
(`Reader.windows`): kp2d_seq (B, T, J, 2), target_seq (B, T, J, 3) and jfeat_seq (B, T, J, D) with joint features;
kp2d / ref / target / row / clip / frame stay the centre frame's. A flipped sample flips its whole window.
Workers open the store lazily (the Reader pickles without its handle) and start with forkserver/spawn, never
fork: zarr v3 runs an event-loop thread that a fork can deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lifters.flip import flip_pose_3d, flip_screen_2d
from lifters.window import check_window
from schemas.camera import camera_field
from schemas.crop_coords import DEFAULT_CROP_HW, image_to_ref
from schemas.errors import InputError, StoreError
from schemas.joints import JOINT_SETS, joint_map
from schemas.normalizer import PoseNormalizer
from schemas.splits import split_subjects
from storage.reader import Reader

READ_FIELDS = ("clip", "frame", "affine")
BatchKey = tuple[np.ndarray, np.ndarray]


def open_reader(cache: str | Path, dataset: str | None = None, backbone: str | None = None,
                keypoints: str = "gt", need_maps: bool = False, need_joint_features: bool = False) -> Reader:
    """A Reader over `cache`; StoreError naming what exists if the maps, joint features or 2D source asked for
    are missing (joint features: the message names `pipeline derive ... --joint-features`)."""
    reader = Reader(cache, dataset=dataset, backbone=backbone, keypoints=keypoints,
                    joint_features=need_joint_features)
    if need_maps and reader.backbone is None:
        bbs = reader.ds.backbones()
        have = ", ".join(bbs) or "none"
        hint = "pass --backbone NAME" if len(bbs) > 1 else "run `pipeline extract` with a --backbone first"
        raise StoreError(f"{cache}/{reader.dataset}: this model needs backbone feature maps; backbones in the "
                         f"store: {have}; {hint}")
    return reader


def split_rows(reader: Reader, split: str, stride: int = 1, protocol: str | None = None) -> np.ndarray:
    """(n,) int64 valid rows of the named subject split of `protocol` (None: the dataset's standard one), every
    `stride`-th row of each clip; InputError for an unknown protocol, StoreError naming the subjects present if
    the split has no rows."""
    try:
        want = split_subjects(reader.dataset, split, protocol)
    except KeyError as e:
        raise InputError(f"--protocol: {e.args[0]}") from None
    rows = reader.rows(subjects=want, stride=stride)
    if len(rows) == 0:
        have = sorted({c.subject for c in reader.ready_clips()})
        raise StoreError(f"{reader.path}/{reader.dataset}: no {split}-split rows (subjects {', '.join(want) or '-'}"
                         f"); the store has ready clips of: {', '.join(have) or 'none'}; extract the {split} "
                         f"subjects (pipeline extract --subjects ...)")
    return rows


def check_windows(reader: Reader, model: str, frames: int) -> None:
    """InputError if a temporal model cannot get windows from this dataset: still images (MuCo-3DHP rows are
    person instances, not frames) or a window longer than every ready clip (names the longest clip length)."""
    if reader.dataset == "muco":
        raise InputError(f"{model} is a temporal model (windows of --frames consecutive frames) and {reader.path}/"
                         f"muco holds still images (rows are person instances, not frames); train it on h36m "
                         f"or 3dhp, or use a single-frame model")
    longest = max((c.length for c in reader.ready_clips()), default=0)
    if frames > longest:
        raise InputError(f"--frames {frames} is longer than every clip of {reader.path}/{reader.dataset} (the "
                         f"longest has {longest} frames); use --frames <= {longest} or extract longer clips")


def backbone_attrs(reader: Reader) -> dict:
    """Attributes of the reader's backbone group ({} without a backbone)."""
    if reader.backbone is None:
        return {}
    return dict(reader.group["backbones"][reader.backbone].attrs)


class LiftingData(Dataset):
    """Batches of lifter inputs for `rows` of a store; index with a `BatchKey` or a list of positions.
    `levels`: the map levels read with `maps` (default all; a model's `map_levels`, e.g. plt and cdl read one).
    `target`: the rows/ array of 3D targets (pose3d_cam = annot3, or pose3d_univ = 3DHP's univ_annot3).
    `joint_set`: the model's joint set when it differs from the store's (cross-dataset evaluation): 2D, 3D and
    joint features are mapped through `schemas.joints.joint_map` (store -> model order)."""

    def __init__(self, reader: Reader, rows: np.ndarray, maps: bool, frames: int = 1,
                 joint_features: bool = False, levels: Sequence[str] | None = None, target: str = "pose3d_cam",
                 joint_set: str | None = None) -> None:
        self.reader = reader
        self.rows = np.asarray(rows, dtype=np.int64)
        self.maps = bool(maps)
        self.frames = int(frames)
        self.joint_features = bool(joint_features)
        check_window(self.frames)
        if self.maps and self.frames > 1:
            raise InputError("windows of feature maps are not supported: a model reading maps is single-frame")
        attrs = reader.attrs
        store_js = str(attrs["joint_set"])
        self.joint_set = JOINT_SETS[joint_set or store_js]
        self.jmap = None if self.joint_set.name == store_js else joint_map(store_js, self.joint_set.name)
        self.perm = self.joint_set.flip_permutation()
        self.normalizer = PoseNormalizer(self.joint_set.root, unit="m")
        if target not in reader.group["rows"]:
            raise StoreError(f"{reader.path}/{reader.dataset}: no 3D target rows/{target} (3DHP's univ_annot3 is "
                             f"stored by `pipeline extract` since this version: re-extract, or pass --target annot3)")
        self.target = target
        bb = backbone_attrs(reader)
        self.crop_hw = tuple(int(x) for x in bb.get("input_size", DEFAULT_CROP_HW))
        self.has_flip_maps = bool(bb.get("flip", False))
        self.levels = (list(reader.levels) if levels is None else list(levels)) if self.maps else []

    def check_flip(self, what: str) -> None:
        """StoreError if `what` (e.g. '--flip-aug') needs flipped maps the store lacks."""
        if self.maps and not self.has_flip_maps:
            raise StoreError(f"{self.reader.path}/{self.reader.dataset}/backbones/{self.reader.backbone}: "
                             f"{what} needs the maps of flipped crops, which this store lacks; re-extract with "
                             f"`pipeline extract --flip` or drop {what}")
        if self.joint_features:
            try:
                self.reader.joints_group(flip=True)
            except StoreError as e:
                raise StoreError(f"{what}: {e}; or drop {what}") from None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: BatchKey | Sequence[int]) -> dict:
        if isinstance(key, tuple):
            pos, flip = key
        else:
            pos, flip = key, None
        return to_torch(self.batch(pos, flip))

    def batch(self, positions: Sequence[int] | np.ndarray, flip: np.ndarray | None = None) -> dict:
        """Numpy batch (see the module docstring) of dataset positions; `flip` (B,) bool mirrors those rows."""
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        rows = self.rows[pos]
        flip = np.zeros(len(rows), bool) if flip is None else np.asarray(flip, bool).reshape(-1)
        if flip.shape != rows.shape:
            raise InputError(f"flip flags {flip.shape} do not match {len(rows)} rows")
        if flip.any():
            self.check_flip("flip")
        r = self.reader
        t = self.frames
        win = r.windows(rows, t) if t > 1 else rows[:, None]  # (B, T) rows
        uniq, inv = np.unique(win, return_inverse=True)  # one read of every row the batch needs
        inv = inv.reshape(win.shape)
        centre = inv[:, t // 2]
        uniform = not flip.any() or flip.all()
        d = r.read(uniq, fields=(*READ_FIELDS, self.target), maps=self.maps and uniform, flip=bool(flip.any()),
                   joint_features=self.joint_features and uniform, levels=self.levels)
        if self.jmap is not None:
            for k in ("kp2d", self.target, "joint_features"):
                if k in d:
                    d[k] = d[k][:, self.jmap]
        cam = d["camera"]
        enc = self.normalizer.encode(d["kp2d"], d[self.target], camera_field(cam, "width"),
                                     camera_field(cam, "height"))
        kp, target = enc["kp2d"][inv], enc["pose3d"][inv]  # (B, T, J, .)
        if flip.any():
            kp[flip] = flip_screen_2d(kp[flip], self.perm)
            target[flip] = flip_pose_3d(target[flip], self.perm)
        kp, target = kp.astype(np.float32), target.astype(np.float32)
        out = {"kp2d": kp[:, t // 2],
               "ref": image_to_ref(d["kp2d"][centre], d["affine"][centre], self.crop_hw, flip,
                                   self.perm).astype(np.float32),
               "target": target[:, t // 2], "row": rows, "clip": d["clip"][centre].astype(np.int64),
               "frame": d["frame"][centre].astype(np.int64), "flip": flip}
        if t > 1:
            out["kp2d_seq"], out["target_seq"] = kp, target
        if self.joint_features:
            jf = d["joint_features"][inv] if uniform else self._mixed_joint_features(uniq, inv, flip)
            out["joint_features"] = jf[:, t // 2]
            if t > 1:
                out["jfeat_seq"] = jf
        if self.maps:
            if uniform:
                out["maps"] = {lv: d[lv][centre] for lv in self.levels}
            else:
                out["maps"] = self._mixed_maps(rows, flip)
        return out

    def _mixed_joint_features(self, uniq: np.ndarray, inv: np.ndarray, flip: np.ndarray) -> np.ndarray:
        """(B, T, J, D) joint features of a batch mixing flipped and plain windows (one read per kind)."""
        out: np.ndarray | None = None
        for f in (False, True):
            sel = flip == f
            need = np.unique(inv[sel])
            part = self.reader.read(uniq[need], fields=(), joint_features=True, flip=f)["joint_features"]
            part = part if self.jmap is None else part[:, self.jmap]
            if out is None:
                out = np.empty((*inv.shape, *part.shape[1:]), dtype=part.dtype)
            out[sel] = part[np.searchsorted(need, inv[sel])]
        return out

    def _mixed_maps(self, rows: np.ndarray, flip: np.ndarray) -> dict[str, np.ndarray]:
        maps: dict[str, np.ndarray] = {}
        for f in (False, True):
            sel = flip == f
            part = self.reader.read(rows[sel], fields=(), maps=True, flip=f, levels=self.levels)
            for lv in self.levels:
                if lv not in maps:
                    maps[lv] = np.empty((len(rows), *part[lv].shape[1:]), dtype=part[lv].dtype)
                maps[lv][sel] = part[lv]
        return maps


def to_torch(batch: dict) -> dict:
    """numpy batch -> tensors (maps stay float16)."""
    out = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items() if k != "maps"}
    if "maps" in batch:
        out["maps"] = {lv: torch.from_numpy(np.ascontiguousarray(m)) for lv, m in batch["maps"].items()}
    return out
