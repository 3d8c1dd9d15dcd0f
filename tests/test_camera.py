"""Camera model: world->camera, projection with distortion, screen normalization (hand-computed values)."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.camera import (
    Camera,
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
    with pytest.raises(ValueError, match="f must have shape"):
        Camera(f=[1, 2, 3], c=[0, 0])
