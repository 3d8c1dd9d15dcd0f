"""Camera model: world->camera, projection with distortion, screen normalization (hand-computed values)."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.camera import (
    CAMERA_VECTOR_FIELDS,
    Camera,
    camera_field,
    camera_to_world,
    distort,
    image_coordinates,
    normalize_screen_coordinates,
    project,
    project_world,
    quaternion_to_matrix,
    world_to_camera,
)


def test_world_camera_round_trip_and_centre():
    R = quaternion_to_matrix([0.9, 0.1, -0.3, 0.2])
    t = np.array([100.0, -50.0, 4000.0])
    x = np.random.default_rng(0).normal(0, 1000, (5, 17, 3))
    np.testing.assert_allclose(camera_to_world(world_to_camera(x, R, t), R, t), x, atol=1e-9)
    cam = Camera(f=[1, 1], c=[0, 0], R_w2c=R, t_w2c=t)
    np.testing.assert_allclose(world_to_camera(cam.center_world, R, t), 0, atol=1e-9)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)


def test_pinhole_projection_by_hand():
    cam = Camera(f=[1000, 1100], c=[500, 400])
    # (200, -100, 2000) mm -> x/z = 0.1, y/z = -0.05 -> (600, 345) px
    np.testing.assert_allclose(project(np.array([200.0, -100.0, 2000.0]), cam), [600, 345])


def test_distortion_by_hand():
    k, p = np.array([0.1, 0.01, 0.001]), np.array([0.002, -0.003])
    x, y = 0.2, -0.1
    r2 = x * x + y * y
    radial = 1 + 0.1 * r2 + 0.01 * r2**2 + 0.001 * r2**3
    want = [x * radial + 2 * 0.002 * x * y + -0.003 * (r2 + 2 * x * x),
            y * radial + 0.002 * (r2 + 2 * y * y) + 2 * -0.003 * x * y]
    np.testing.assert_allclose(distort(np.array([x, y]), k, p), want, rtol=1e-12)


def test_distortion_agrees_with_opencv():
    cv2 = pytest.importorskip("cv2")
    cam = Camera(f=[1145.0, 1144.0], c=[512.5, 515.5], k=[-0.207, 0.247, -0.0031], p=[-0.00043, -0.00098],
                 R_w2c=quaternion_to_matrix([0.14, -0.15, -0.76, 0.62]), t_w2c=[-300.0, 200.0, 5500.0])
    xw = np.random.default_rng(1).normal(0, 400, (50, 3))
    ours = project_world(xw, cam)
    rvec, _ = cv2.Rodrigues(cam.R_w2c)
    dist = np.array([cam.k[0], cam.k[1], cam.p[0], cam.p[1], cam.k[2]])
    theirs, _ = cv2.projectPoints(xw, rvec, cam.t_w2c, cam.K, dist)
    np.testing.assert_allclose(ours, theirs[:, 0], atol=1e-6)


def test_screen_normalization_videopose3d_formula():
    xy = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]])
    n = normalize_screen_coordinates(xy, 1000, 1002)
    np.testing.assert_allclose(n, [[-1, -1.002], [1, 1.002], [0, 0]])
    np.testing.assert_allclose(image_coordinates(n, 1000, 1002), xy)


def test_camera_vector_and_dict_round_trip():
    cam = Camera(f=[1, 2], c=[3, 4], k=[5, 6, 7], p=[8, 9], R_w2c=np.eye(3), t_w2c=[10, 11, 12], width=640,
                 height=480, id="x")
    back = Camera.from_vector(cam.to_vector(), id="x")
    assert back.to_dict() == cam.to_dict() == Camera.from_dict(cam.to_dict()).to_dict()
    rot = Camera(f=[1, 2], c=[3, 4], R_w2c=np.arange(9.0).reshape(3, 3) / 10, t_w2c=[10, 11, 12])
    assert dict(zip(CAMERA_VECTOR_FIELDS, rot.to_vector(), strict=True)) == {  # the README's store layout
        "fx": 1, "fy": 2, "cx": 3, "cy": 4, "k1": 0, "k2": 0, "k3": 0, "p1": 0, "p2": 0, "R00": 0.0, "R01": 0.1,
        "R02": 0.2, "R10": 0.3, "R11": 0.4, "R12": 0.5, "R20": 0.6, "R21": 0.7, "R22": 0.8, "tx": 10, "ty": 11,
        "tz": 12, "width": 1000, "height": 1000}
    rows = np.stack([cam.to_vector(), rot.to_vector()])
    assert camera_field(rows, "width").tolist() == [640, 1000] and camera_field(rows, "R01").tolist() == [0, 0.1]
    with pytest.raises(ValueError, match=r"shape \(23,\)"):
        Camera.from_vector(np.zeros(22))
    with pytest.raises(ValueError, match="f must have shape"):
        Camera(f=[1, 2, 3], c=[0, 0])
