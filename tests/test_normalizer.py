"""PoseNormalizer: hand values and decode(encode(x)) == x."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.normalizer import PoseNormalizer


def test_hand_values():
    norm = PoseNormalizer(root=0, unit="m")
    kp = np.array([[500.0, 500.0], [1000.0, 0.0]])
    pose = np.array([[100.0, 200.0, 5000.0], [300.0, 200.0, 4000.0]])
    enc = norm.encode(kp, pose, 1000, 1000)
    np.testing.assert_allclose(enc["kp2d"], [[0.0, 0.0], [1.0, -1.0]])
    np.testing.assert_allclose(enc["pose3d"], [[0, 0, 0], [0.2, 0.0, -1.0]])
    np.testing.assert_allclose(enc["root"], [0.1, 0.2, 5.0])
    # 1000 x 1002 (H36M cameras 54138969 / 60457274): y is scaled by the width, offset by h / w
    np.testing.assert_allclose(norm.encode(kp, pose, 1000, 1002)["kp2d"][0], [0.0, 1 - 1.002])
    mm = PoseNormalizer(root=1, unit="mm").encode(kp, pose, 1000, 1000)
    np.testing.assert_allclose(mm["pose3d"], [[-200, 0, 1000], [0, 0, 0]])
    np.testing.assert_allclose(mm["root"], [300, 200, 4000])


@pytest.mark.parametrize("unit", ["m", "mm"])
def test_round_trip(unit):
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 1000, (3, 4, 17, 2))
    pose = rng.uniform(-1000, 1000, (3, 4, 17, 3)) + [0, 0, 5000]
    norm = PoseNormalizer(root=14, unit=unit)
    enc = norm.encode(kp, pose, 1000, 1002)
    assert np.all(enc["pose3d"][..., 14, :] == 0)
    kp2, pose2 = norm.decode(enc["kp2d"], enc["pose3d"], enc["root"], 1000, 1002)
    np.testing.assert_allclose(kp2, kp, atol=1e-9)
    np.testing.assert_allclose(pose2, pose, atol=1e-9)
    # per-sample image sizes (MuCo rows) broadcast over the leading axes
    w = rng.integers(500, 2000, (3, 4))
    h = rng.integers(500, 2000, (3, 4))
    enc = norm.encode(kp, pose, w, h)
    np.testing.assert_allclose(enc["kp2d"][1, 2], norm.encode(kp[1, 2], pose[1, 2], w[1, 2], h[1, 2])["kp2d"])
    kp3, _ = norm.decode(enc["kp2d"], enc["pose3d"], enc["root"], w, h)
    np.testing.assert_allclose(kp3, kp, atol=1e-9)


def test_bad_unit():
    with pytest.raises(ValueError, match="unit"):
        PoseNormalizer(root=0, unit="cm")
