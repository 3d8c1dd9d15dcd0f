"""Metrics against hand-computed values."""

import numpy as np
import pytest

from lifters import metrics as M

RNG = np.random.default_rng(0)


def _pose(n: int = 1, j: int = 17) -> np.ndarray:
    return RNG.normal(scale=300.0, size=(n, j, 3))


def _rot_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def test_mpjpe_translation_3_4_0_is_5():
    gt = _pose(4)
    assert M.mpjpe(gt + np.array([3.0, 4.0, 0.0]), gt) == pytest.approx(5.0)
    np.testing.assert_allclose(M.mpjpe(gt + np.array([3.0, 4.0, 0.0]), gt, per_frame=True), [5.0] * 4)


def test_mpjpe_mixed_errors():
    gt = np.zeros((1, 2, 3))
    pred = np.array([[[1.0, 0, 0], [0, 0, 3.0]]])
    assert M.mpjpe(pred, gt) == pytest.approx(2.0)


def test_p_mpjpe_similarity_copy_is_zero_but_mpjpe_is_not():
    gt = _pose(3)
    pred = 1.7 * gt @ _rot_z(40.0).T + np.array([100.0, -50.0, 20.0])
    assert M.mpjpe(pred, gt) > 100.0
    assert M.p_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)


def test_p_mpjpe_mirror_is_not_zero_hand_value():
    # 6 points +-a e_x, +-b e_y, +-c e_z (a=3, b=2, c=1), pred = x-mirror. X^T Y = diag(-2a^2, 2b^2, 2c^2);
    # the best proper rotation flips the smallest direction: R = diag(-1, 1, -1),
    # so X R maps (x,y,z)->(x,y,-z);
    # scale s = (2a^2+2b^2-2c^2)/(2a^2+2b^2+2c^2) = 12/14 = 6/7. Errors: a(1-s)=3/7, b(1-s)=2/7, c(1+s)=13/7
    # (each twice) -> mean 18/21 = 6/7.
    a, b, c = 3.0, 2.0, 1.0
    gt = np.array([[[a, 0, 0], [-a, 0, 0], [0, b, 0], [0, -b, 0], [0, 0, c], [0, 0, -c]]])
    pred = gt * np.array([-1.0, 1.0, 1.0])
    assert M.p_mpjpe(pred, gt) == pytest.approx(6.0 / 7.0)
    aligned = M.procrustes_align(pred, gt)
    np.testing.assert_allclose(aligned[0], (6.0 / 7.0) * gt[0] * np.array([1.0, 1.0, -1.0]), atol=1e-12)


def test_p_mpjpe_mirror_of_planar_pose_is_zero():
    # a mirror of a planar set (z=0) equals a 180 deg rotation about y: reachable without reflection
    gt = _pose(1)
    gt[..., 2] = 0.0
    assert M.p_mpjpe(gt * np.array([-1.0, 1.0, 1.0]), gt) == pytest.approx(0.0, abs=1e-9)


def test_n_mpjpe_hand_value_and_scale_invariance():
    gt = np.array([[[1.0, 0, 0], [0, 0, 0]]])
    pred = np.array([[[2.0, 0, 0], [0, 1.0, 0]]])
    # s = <gt,pred>/<pred,pred> = 2/5; scaled pred (0.8,0,0),(0,0.4,0); errors 0.2, 0.4
    assert M.n_mpjpe(pred, gt) == pytest.approx(0.3)
    g = _pose(2)
    assert M.n_mpjpe(2.5 * g, g) == pytest.approx(0.0, abs=1e-9)


def test_mpjve_constant_drift_is_one_per_frame():
    gt = np.repeat(_pose(1), 5, axis=0)
    drift = np.arange(5.0)[:, None, None] * np.array([1.0, 0.0, 0.0])
    assert M.mpjve(gt + drift, gt) == pytest.approx(1.0)
    assert M.mpjve(gt + 7.0, gt) == pytest.approx(0.0)  # a constant offset has no velocity error
    with pytest.raises(ValueError):
        M.mpjve(gt[:1], gt[:1])


def _errors_as_poses(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt = np.zeros((*dist.shape, 3))
    pred = gt.copy()
    pred[..., 0] = dist
    return pred, gt


def test_pck_strict_and_joint_subset():
    pred, gt = _errors_as_poses(np.array([[10.0, 150.0, 149.9, 200.0]]))
    assert M.pck(pred, gt) == pytest.approx(50.0)  # 150 itself fails (strict <)
    assert M.pck(pred, gt, threshold=150.01) == pytest.approx(75.0)
    assert M.pck(pred, gt, joints=[0, 2]) == pytest.approx(100.0)


def test_auc_hand_value():
    # distances 0 and 12 mm: d=0 passes every threshold except 0 (30/31); d=12 passes 15..150 (28/31)
    pred, gt = _errors_as_poses(np.array([[0.0, 12.0]]))
    assert M.AUC_THRESHOLDS_MM.shape == (31,)
    assert M.auc(pred, gt) == pytest.approx((30 + 28) / 62 * 100.0)
    pred, gt = _errors_as_poses(np.array([[500.0]]))
    assert M.auc(pred, gt) == 0.0


def test_pck14_joint_sets():
    assert M.MPI_PCK_14_JOINTS == tuple(range(14))
    assert M.H36M_PCK_14_JOINTS == (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16)


def test_aggregate_actions_vs_frames_differ_on_unbalanced_set():
    err = np.array([10.0, 10.0, 10.0, 40.0])
    act = np.array(["Walk", "Walk", "Walk", "Sit"])
    out = M.aggregate(err, act)
    assert out["per_action"] == {"Sit": 40.0, "Walk": 10.0}
    assert out["mean_over_actions"] == pytest.approx(25.0)
    assert out["mean_over_frames"] == pytest.approx(17.5)
    with pytest.raises(ValueError):
        M.aggregate(err, act[:3])
