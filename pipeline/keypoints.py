"""Decode the heatmap head into 2D keypoints (crop px, image px, scores) and map COCO-17 to dataset joints.

Decoding uses mmpose's own `MSRAHeatmap` codec as configured in the bundled top-down configs (input 192x256,
heatmap 48x64, sigma 2, argmax + quarter-pixel shift towards the higher neighbour): crop px = heatmap px * 4.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pipeline.crops import apply_affine, invert_affine
from schemas.errors import InputError
from schemas.joints import JOINT_SETS

CODEC_CFG: dict[str, Any] = {"type": "MSRAHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64),
                             "sigma": 2}

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle")

_HEAD = (1, 2, 3, 4)  # mean of eyes and ears ~ head centre/top
_PELVIS = (11, 12)  # mid-hips
_THORAX = (5, 6)  # mid-shoulders
_SPINE = (11, 12, 5, 6)  # mid pelvis/thorax (mean of the four)

# target joint -> COCO-17 indices averaged. Approximations (documented): pelvis = mid-hips,
# thorax/neck = mid-shoulders, spine = mid pelvis-thorax, H36M neck/nose = nose, head(top) = mean of eyes+ears,
# MPI head = nose, MuCo hands = wrists, toes = ankles. Other joints are COCO joints of the same name.
COCO17_TO: dict[str, tuple[tuple[int, ...], ...]] = {
    "coco17": tuple((i,) for i in range(17)),
    "h36m17": (_PELVIS, (12,), (14,), (16,), (11,), (13,), (15,), _SPINE, _THORAX, (0,), _HEAD,
               (5,), (7,), (9,), (6,), (8,), (10,)),
    "mpi17": (_HEAD, _THORAX, (6,), (8,), (10,), (5,), (7,), (9,), (12,), (14,), (16,), (11,), (13,), (15,),
              _PELVIS, _SPINE, (0,)),
}
COCO17_TO["muco21"] = COCO17_TO["mpi17"] + ((10,), (9,), (16,), (15,))


def coco17_weights(joint_set: str) -> np.ndarray:
    """(J, 17) float64 averaging matrix: target = W @ coco17."""
    if joint_set not in COCO17_TO:
        raise InputError(f"no COCO-17 -> {joint_set!r} joint approximation; supported: "
                         f"{', '.join(sorted(COCO17_TO))}")
    rows = COCO17_TO[joint_set]
    if joint_set in JOINT_SETS and len(rows) != JOINT_SETS[joint_set].num_joints:
        raise AssertionError(f"COCO17_TO[{joint_set!r}] has {len(rows)} joints")
    W = np.zeros((len(rows), 17))
    for j, src in enumerate(rows):
        W[j, list(src)] = 1.0 / len(src)
    return W


def coco17_to(joint_set: str, kp: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 detections (..., 17, 2) px and (..., 17) scores -> the dataset's (..., J, 2), (..., J) float32.

    Composite joints (pelvis, thorax, spine, head) are means of their COCO sources, scores likewise.
    """
    kp, score = np.asarray(kp, dtype=np.float64), np.asarray(score, dtype=np.float64)
    if kp.shape[-2:] != (17, 2) or score.shape != kp.shape[:-1]:
        raise InputError(f"coco17_to: expected kp (..., 17, 2) and score (..., 17), got {kp.shape} {score.shape}")
    W = coco17_weights(joint_set)
    out_kp = np.einsum("jk,...kd->...jd", W, kp)
    out_score = np.einsum("jk,...k->...j", W, score)
    return out_kp.astype(np.float32), out_score.astype(np.float32)


_CODECS: dict[tuple, Any] = {}


def heatmap_codec(codec_cfg: dict[str, Any] | None = None) -> Any:
    """mmpose `MSRAHeatmap` built from `codec_cfg` (default: the bundled 256x192 config), cached."""
    from pipeline.mmpose_compat import load_mmpose

    cfg = dict(CODEC_CFG if codec_cfg is None else codec_cfg)
    kind = cfg.pop("type", "MSRAHeatmap")
    if kind != "MSRAHeatmap":
        raise InputError(f"heatmap codec {kind!r} is not supported (only MSRAHeatmap)")
    key = tuple(sorted((k, tuple(v) if isinstance(v, list | tuple) else v) for k, v in cfg.items()))
    if key not in _CODECS:
        _CODECS[key] = load_mmpose().MSRAHeatmap(**cfg)
    return _CODECS[key]


def decode_heatmaps(heatmaps: np.ndarray | torch.Tensor,
                    codec_cfg: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(B, K, 64, 48) heatmaps -> keypoints (B, K, 2) float32 crop px and scores (B, K) float32 (heatmap max)."""
    if isinstance(heatmaps, torch.Tensor):
        heatmaps = heatmaps.detach().float().cpu().numpy()
    hm = np.asarray(heatmaps, dtype=np.float32)
    if hm.ndim != 4:
        raise InputError(f"decode_heatmaps: expected (B, K, H, W), got {hm.shape}")
    codec = heatmap_codec(codec_cfg)
    kps = np.empty((hm.shape[0], hm.shape[1], 2), np.float32)
    scores = np.empty(hm.shape[:2], np.float32)
    for b in range(hm.shape[0]):
        k, s = codec.decode(hm[b])
        kps[b], scores[b] = k[0], s[0]
    return kps, scores


def crop_to_image(kp_crop: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """(B, K, 2) crop px and (B, 2, 3) image->crop affines -> (B, K, 2) float32 image px."""
    return apply_affine(invert_affine(np.asarray(affines, np.float64)), kp_crop).astype(np.float32)


def detect(heatmaps: np.ndarray | torch.Tensor, affines: np.ndarray, joint_set: str,
           codec_cfg: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (B, 17, 64, 48) + affines (B, 2, 3) -> dataset-joint detections (B, J, 2) image px, (B, J)."""
    kp_crop, score = decode_heatmaps(heatmaps, codec_cfg)
    return coco17_to(joint_set, crop_to_image(kp_crop, affines), score)
