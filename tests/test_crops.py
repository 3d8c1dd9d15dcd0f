"""Crop boxes, affines, the batched warp (vs cv2.warpAffine) and feature-map coordinates."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline.crops import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    apply_affine,
    box_from_kp2d,
    box_from_root,
    check_boxes,
    crop_affine,
    crop_to_grid,
    crop_to_level,
    flip_affine,
    flip_crops,
    grid_to_level,
    invert_affine,
    user_boxes,
    warp_crops,
)
from schemas.camera import Camera
from schemas.errors import InputError

CAM = Camera(f=np.array([1000.0, 1100.0]), c=np.array([500.0, 480.0]), k=np.array([0.2, -0.1, 0.0]),
             width=1000, height=1000)


def _smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (h // 16, w // 16, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0, 255).round().astype(np.uint8)


def test_box_from_root_golden() -> None:
    box = box_from_root(np.array([[0.0, 0.0, 5000.0], [500.0, -200.0, 4000.0]]), CAM)
    # x: (0 -/+ 1000) / 5000 * 1000 + 500 ; y: (0 - 900) / 5000 * 1100 + 480, (0 + 1100) / 5000 * 1100 + 480
    np.testing.assert_allclose(box[0], [300, 282, 700, 722], atol=1e-4)
    np.testing.assert_allclose(box[1], [375, 177.5, 875, 727.5], atol=1e-4)  # distortion k ignored (pinhole)
    with pytest.raises(InputError, match=r"rows \[0\]"):
        box_from_root(np.array([[0.0, 0.0, -10.0]]), CAM)


def test_box_from_kp2d_and_user_boxes() -> None:
    kp = np.array([[[10, 20], [110, 220], [np.nan, 5000]]], dtype=np.float32)
    np.testing.assert_allclose(box_from_kp2d(kp), [[-2.5, -5, 122.5, 245]])
    np.testing.assert_allclose(box_from_kp2d(kp, pad=1.0), [[10, 20, 110, 220]])
    with pytest.raises(InputError, match=r"rows \[1\] have no finite 2D joint"):
        box_from_kp2d(np.concatenate([kp, np.full_like(kp, np.nan)]))
    b = np.array([[1, 2, 3, 4]], np.float64)
    assert user_boxes(b, 1).dtype == np.float32
    with pytest.raises(InputError, match=r"\(2, 4\)"):
        user_boxes(b, 2)


def test_crop_affine_centre_aspect_and_inverse() -> None:
    boxes = np.array([[100, 100, 200, 200], [50, 0, 100, 200]], np.float32)  # wide-ish, tall
    A = crop_affine(boxes)
    assert A.shape == (2, 2, 3) and A.dtype == np.float32
    centre = np.array([[[150, 150]], [[75, 100]]])
    np.testing.assert_allclose(apply_affine(A, centre), [[[96, 128]], [[96, 128]]], atol=1e-4)
    # square box: width fills the crop (100 px -> 192), height 100 px -> 192 < 256 (expanded)
    np.testing.assert_allclose(apply_affine(A[0], [[100, 150], [200, 150]]), [[0, 128], [192, 128]], atol=1e-4)
    # tall box 50x200: height fills (200 px -> 256), width expanded to 150
    np.testing.assert_allclose(apply_affine(A[1], [[75, 0], [75, 200]]), [[96, 0], [96, 256]], atol=1e-4)
    pts = np.random.default_rng(0).uniform(0, 500, (2, 5, 2))
    np.testing.assert_allclose(apply_affine(invert_affine(A), apply_affine(A, pts)), pts, atol=1e-3)


def test_warp_matches_cv2_within_one_gray_level() -> None:
    img = _smooth_image(480, 640, 0)
    boxes = np.array([[200, 100, 400, 400], [-150, -50, 150, 300]], np.float32)  # 2nd crosses the border
    A = crop_affine(boxes)
    raw = warp_crops(img[None], A, index=np.array([0, 0]), normalize=False)
    assert raw.shape == (2, 3, 256, 192) and raw.dtype == torch.float32
    for i in range(2):
        ref = cv2.warpAffine(img, A[i].astype(np.float64), (192, 256), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        ours = raw[i].permute(1, 2, 0).numpy()
        assert np.abs(ours - ref.astype(np.float32)).max() <= 1.0
    norm = warp_crops([img, img], A)  # list input, one image per crop
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(norm, (raw - mean) / std, rtol=0, atol=1e-4)


def test_box_mostly_outside_names_the_row() -> None:
    boxes = np.array([[0, 0, 10, 10], [700, 10, 800, 100]], np.float32)
    with pytest.raises(InputError, match=r"clip X: row 1: crop box .* lies mostly outside the 640x480 image "
                                         r"\(0% inside"):
        check_boxes(boxes, 640, 480, where="clip X")
    with pytest.raises(InputError, match="row 7: crop box .* degenerate"):
        check_boxes(np.array([[5, 5, 5, 9]]), 640, 480, rows=np.array([7]))
    with pytest.raises(InputError, match=r"row 0: .* \(25% inside"):  # a quarter inside: mostly outside
        check_boxes(np.array([[-10, -10, 10, 10]]), 640, 480)
    check_boxes(np.array([[-5, -5, 15, 15]]), 640, 480)  # 56% inside is fine


def test_flip_crops_and_flip_affine_agree() -> None:
    img = _smooth_image(480, 640, 1)
    A = crop_affine(np.array([[100, 50, 300, 400]], np.float32))
    flipped = flip_crops(warp_crops(img[None], A, normalize=False))
    direct = warp_crops(img[None], flip_affine(A), normalize=False)
    torch.testing.assert_close(flipped, direct, rtol=0, atol=1e-3)
    u = apply_affine(A[0], [[150.0, 200.0]])[0, 0]
    assert apply_affine(flip_affine(A)[0], [[150.0, 200.0]])[0, 0] == pytest.approx(191 - u)


def test_feature_map_coordinates() -> None:
    pts = np.array([[0.0, 0.0], [96.0, 128.0], [191.0, 255.0], [40.0, 200.0]])
    np.testing.assert_allclose(crop_to_level(pts, 4), pts / 4)
    g = crop_to_grid(pts)
    np.testing.assert_allclose(g[1], [0, 0])  # crop centre -> grid 0, as CA-PF's /[96,128] - 1
    for h, w in ((64, 48), (8, 6)):
        yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
        ramp = torch.stack([xx, yy])[None]  # value = level px
        s = F.grid_sample(ramp, torch.from_numpy(g)[None, None], align_corners=True)[0, :, 0].T.numpy()
        np.testing.assert_allclose(s, grid_to_level(g, (h, w)), atol=1e-9)
    # at the s4 level the CA-PF sampling is /stride scaled by (W_l - 1) / W_l
    np.testing.assert_allclose(grid_to_level(g, (64, 48))[3], [40 * 47 / 192, 200 * 63 / 256])
