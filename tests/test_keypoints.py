"""Heatmap decoding with mmpose's codec, crop -> image px, and COCO-17 -> dataset joints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.backbones import RandomInitWarning, build_backbone
from pipeline.crops import apply_affine, crop_affine
from pipeline.keypoints import COCO17, coco17_to, coco17_weights, crop_to_image, decode_heatmaps, detect
from schemas.errors import InputError
from schemas.joints import JOINT_SETS


def _gaussian(x: float, y: float, h: int = 64, w: int = 48, sigma: float = 2.0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)).astype(np.float32)


def test_gaussian_peak_decodes_to_its_location_in_crop_and_image_px() -> None:
    hm = np.zeros((2, 17, 64, 48), np.float32)
    hm[0, 0] = _gaussian(20, 30)
    hm[0, 1] = 0.5 * _gaussian(20.3, 30.6)
    hm[1, :] = _gaussian(5.5, 60.2)
    kp, score = decode_heatmaps(torch.from_numpy(hm))
    assert kp.shape == (2, 17, 2) and score.shape == (2, 17)
    np.testing.assert_allclose(kp[0, 0], [80, 120])  # heatmap px * 4
    # argmax (20, 31) + quarter-pixel shift towards the higher neighbour: (20.25, 30.75) * 4
    np.testing.assert_allclose(kp[0, 1], [81, 123])
    assert np.abs(kp[0, 1] - np.array([20.3, 30.6]) * 4).max() <= 1.0  # codec accuracy: 1/4 heatmap px
    np.testing.assert_allclose(score[0, :2], [1.0, 0.5 * np.exp(-(0.3**2 + 0.4**2) / 8)], rtol=1e-5)
    A = crop_affine(np.array([[100, 50, 300, 350], [0, 0, 640, 480]], np.float32))
    img = crop_to_image(kp, A)
    np.testing.assert_allclose(apply_affine(A, img), kp, atol=1e-3)
    # row 0: box 200x300 -> scale 256/300 px per px, centre (200, 200) <-> crop (96, 128)
    np.testing.assert_allclose(img[0, 0], [200 + (80 - 96) * 300 / 256, 200 + (120 - 128) * 300 / 256], atol=1e-3)


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
def test_decode_matches_mmpose_head_decode() -> None:
    with pytest.warns(RandomInitWarning):
        bb = build_backbone("hrnet32")
    x = torch.randn(1, 3, 256, 192, generator=torch.Generator().manual_seed(3))
    _, hm = bb.forward(x)
    kp, score = decode_heatmaps(hm, bb.codec_cfg)
    bb.model.head.test_cfg = {"flip_test": False}
    preds = bb.model.head.decode(hm)
    np.testing.assert_allclose(kp[0], preds[0].keypoints[0], atol=1e-4)
    np.testing.assert_allclose(score[0], preds[0].keypoint_scores[0], atol=1e-6)


def test_coco17_to_dataset_joints() -> None:
    kp = np.arange(34, dtype=np.float64).reshape(1, 17, 2) * np.array([1.0, 10.0])
    score = np.linspace(0.1, 0.9, 17)[None]
    c = {n: i for i, n in enumerate(COCO17)}
    h, hs = coco17_to("h36m17", kp, score)
    names = JOINT_SETS["h36m17"].names
    assert h.shape == (1, 17, 2) and h.dtype == np.float32 and hs.shape == (1, 17)
    np.testing.assert_allclose(h[0, names.index("Hip")], (kp[0, c["left_hip"]] + kp[0, c["right_hip"]]) / 2)
    np.testing.assert_allclose(h[0, names.index("Thorax")],
                               (kp[0, c["left_shoulder"]] + kp[0, c["right_shoulder"]]) / 2)
    np.testing.assert_allclose(h[0, names.index("Spine")], kp[0, [5, 6, 11, 12]].mean(0))
    np.testing.assert_allclose(h[0, names.index("Neck/Nose")], kp[0, c["nose"]])
    np.testing.assert_allclose(h[0, names.index("Head")], kp[0, 1:5].mean(0))
    np.testing.assert_allclose(h[0, names.index("RWrist")], kp[0, c["right_wrist"]])
    np.testing.assert_allclose(h[0, names.index("LFoot")], kp[0, c["left_ankle"]])
    np.testing.assert_allclose(hs[0, names.index("Hip")], score[0, [11, 12]].mean(), rtol=1e-6)
    m, _ = coco17_to("mpi17", kp, score)
    mn = JOINT_SETS["mpi17"].names
    np.testing.assert_allclose(m[0, mn.index("pelvis")], h[0, 0])
    np.testing.assert_allclose(m[0, mn.index("right_knee")], kp[0, c["right_knee"]])
    u, _ = coco17_to("muco21", kp, score)
    assert u.shape == (1, 21, 2)
    np.testing.assert_allclose(u[0, 17:], kp[0, [10, 9, 16, 15]])
    np.testing.assert_allclose(coco17_weights("h36m17").sum(1), 1.0)
    with pytest.raises(InputError, match="supported: coco17, h36m17, mpi17, muco21"):
        coco17_to("h36m32", kp, score)


def test_detect_composes_decode_image_and_joint_map() -> None:
    hm = np.zeros((1, 17, 64, 48), np.float32)
    for j in range(17):
        hm[0, j] = _gaussian(4 + 2 * j, 10 + 3 * j)
    A = crop_affine(np.array([[10, 20, 210, 320]], np.float32))
    kp, score = detect(hm, A, "h36m17")
    ref_kp, ref_score = coco17_to("h36m17", crop_to_image(decode_heatmaps(hm)[0], A), np.ones((1, 17)))
    np.testing.assert_allclose(kp, ref_kp, atol=1e-4)
    np.testing.assert_allclose(score, ref_score, atol=1e-6)
