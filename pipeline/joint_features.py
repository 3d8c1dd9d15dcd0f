"""Joint features (CA-PF-S's cached context vectors): every feature level sampled at the 2D joints.

`sample_joint_features` is the pure stage function; `derive_joint_features` fills a store's
`<dataset>/backbones/<name>/joints/feat` (N, J, D) float16 (and `joints/flip/feat` for flipped maps) from the maps
already in the store, clip by clip (resumable: `joints/status` flips to DONE after a clip's rows are written).
The 2D source sampled at is any the store's Reader serves: "gt" (rows/kp2d_gt), a backbone's own detections
(backbones/<name>/kp2d) or an imported source (imports/<name>/kp2d, `pipeline import-2d`, e.g. CPN as CA-PF-S);
all are image px, taken to map coordinates with each row's stored crop affine exactly as the lifters' `ref` input
(`schemas.crop_coords.image_to_ref`). joints/ attrs record the source (`keypoints`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from schemas.arrays import DONE
from schemas.crop_coords import DEFAULT_CROP_HW, bilinear_at, image_to_ref
from schemas.errors import InputError, StoreError
from schemas.joints import JOINT_SETS
from storage.faults import write_fault
from storage.reader import Reader
from storage.store import Store


def sample_joint_features(maps: Mapping[str, np.ndarray], ref: np.ndarray) -> np.ndarray:
    """Bilinear samples of every level at the joints -> (n, J, D) float16, D = sum of C_l in map order.

    maps: {level: (n, C_l, H_l, W_l)} (any float dtype); ref: (n, J, 2) map-normalized (x, y) in [-1, 1],
    `grid_sample(align_corners=True)` convention (-1 / +1: centres of the first / last pixel), border padding.
    Sampling runs in float32.
    """
    ref = np.asarray(ref, dtype=np.float32)
    if ref.ndim != 3 or ref.shape[-1] != 2:
        raise InputError(f"joint reference points have shape {tuple(ref.shape)}, expected (n, J, 2)")
    parts = []
    for name, m in maps.items():
        if m.ndim != 4 or m.shape[0] != ref.shape[0]:
            raise InputError(f"map {name!r} has shape {tuple(m.shape)}, expected ({ref.shape[0]}, C, H, W)")
        parts.append(bilinear_at(m, ref))
    return np.concatenate(parts, axis=-1).astype(np.float16)


@dataclass
class DeriveResult:
    done: int
    skipped: int
    rows: int


def derive_clip(reader: Reader, ds, backbone: str, clip_index: int, crop_hw: tuple[int, int], perm: np.ndarray,
                chunk: int) -> None:
    """Sample one clip's stored maps at its 2D joints, write joints/feat (+ flip/feat), then mark the clip DONE."""
    j = ds.group["backbones"][backbone]["joints"]
    clip = ds.clip(clip_index)
    with write_fault(ds.where(f"backbones/{backbone}/joints")):
        _derive_rows(reader, j, clip, crop_hw, perm, chunk)
        j["status"][clip_index] = DONE


def _derive_rows(reader: Reader, j, clip, crop_hw: tuple[int, int], perm: np.ndarray, chunk: int) -> None:
    for a in range(clip.start, clip.stop, chunk):
        rows = np.arange(a, min(a + chunk, clip.stop), dtype=np.int64)
        d = reader.read(rows, fields=("affine",), maps=True)
        ref = image_to_ref(d["kp2d"], d["affine"], crop_hw)
        j["feat"][a:a + len(rows)] = sample_joint_features({lv: d[lv] for lv in reader.levels}, ref)
        if "flip" in j:
            fm = reader.read(rows, fields=(), maps=True, flip=True)
            fref = image_to_ref(d["kp2d"], d["affine"], crop_hw, np.ones(len(rows), bool), perm)
            j["flip/feat"][a:a + len(rows)] = sample_joint_features({lv: fm[lv] for lv in reader.levels}, fref)


def derive_joint_features(store: str, backbone: str, keypoints: str = "gt", dataset: str | None = None,
                          clips: list[int] | None = None,
                          progress: Callable[[int, int], None] | None = None, replace: bool = False) -> DeriveResult:
    """Cache joint features of `backbone` in `store` from its stored maps (no backbone run). Clips whose joint
    features are DONE are skipped (resume); only clips whose rows and maps are DONE are derived. `keypoints`: the
    2D source sampled at (the Reader's StoreError lists the store's sources for an unknown one); `replace`:
    joint features sampled at another source are deleted and sampled anew (else a StoreError). `clips`
    restricts the work to those clip indices; `progress(done, total)` is called after each clip."""
    reader = Reader(store, dataset=dataset, backbone=backbone, keypoints=keypoints)
    if reader.backbone is None:
        raise StoreError(f"{store}/{reader.dataset}: no backbone maps to sample; run `pipeline extract` with "
                         f"--backbone first")
    ds = Store.open(store, mode="r+").dataset(reader.dataset)
    with write_fault(ds.where(f"backbones/{backbone}/joints")):
        j = ds.add_joint_features(backbone, keypoints, replace)
    bb_attrs = dict(ds.group["backbones"][backbone].attrs)
    crop_hw = tuple(int(x) for x in bb_attrs.get("input_size", DEFAULT_CROP_HW))
    perm = JOINT_SETS[reader.attrs["joint_set"]].flip_permutation()
    status = j["status"][:]
    ready = [c.index for c in reader.ready_clips() if clips is None or c.index in clips]
    todo = [i for i in ready if status[i] != DONE]
    for n, ci in enumerate(todo):
        derive_clip(reader, ds, backbone, ci, crop_hw, perm, ds.shard_rows)
        if progress is not None:
            progress(n + 1, len(todo))
    return DeriveResult(done=len(todo), skipped=len(ready) - len(todo),
                        rows=sum(ds.clip(i).length for i in todo))
