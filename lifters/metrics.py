"""Evaluation metrics for 3D poses (numpy, pure functions).

Inputs are (N, J, 3) arrays in mm unless stated; callers root-align first where a protocol asks for it.
Conventions follow VideoPose3D `common/loss.py` (P1, P2, N-MPJPE, MPJVE) and the official MPI-INF-3DHP
MATLAB code (`mpii_compute_3d_pck.m`: PCK with strict `<`, AUC = mean PCK over thresholds 0:5:150 mm).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from schemas.joints import MPI17_TO_H36M17

# Official 3DHP 14-joint evaluation set: the 17 MPI joints minus pelvis (14), spine (15) and head (16).
MPI_PCK_14_JOINTS: tuple[int, ...] = tuple(range(14))
# The same 14 joints in H36M-17 order (drops Hip 0, Spine 7, Neck/Nose 9), for lifters trained in H36M order.
H36M_PCK_14_JOINTS: tuple[int, ...] = tuple(
    i for i, m in enumerate(MPI17_TO_H36M17) if m in MPI_PCK_14_JOINTS)
# Thresholds of the official AUC: 0, 5, ..., 150 mm (31 values).
AUC_THRESHOLDS_MM: np.ndarray = np.arange(0.0, 151.0, 5.0)


def _check(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"pred and gt must both be (N, J, 3); got {pred.shape} and {gt.shape}")
    return pred, gt


def joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N, J) Euclidean distance per joint, in the input unit."""
    pred, gt = _check(pred, gt)
    return np.linalg.norm(pred - gt, axis=-1)


def mpjpe(pred: np.ndarray, gt: np.ndarray, per_frame: bool = False) -> float | np.ndarray:
    """P1: mean per-joint position error. A float, or (N,) per-frame means if `per_frame`."""
    err = joint_errors(pred, gt).mean(axis=1)
    return err if per_frame else float(err.mean())


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N, J, 3) `pred` aligned to `gt` per frame by the similarity transform (proper rotation, uniform
    scale, translation) minimising the squared error (Umeyama). Reflections are excluded by flipping the
    sign of the smallest singular direction when det < 0."""
    pred, gt = _check(pred, gt)
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = gt.mean(axis=1, keepdims=True)
    x = pred - mu_p
    y = gt - mu_g
    m = np.einsum("nji,njk->nik", x, y)  # (N,3,3) = X^T Y
    u, s, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    d[d == 0] = 1.0
    u[:, :, -1] *= d[:, None]  # U D, D = diag(1, 1, d)
    rot = u @ vt  # X @ rot ~ Y
    s[:, -1] *= d
    norm_x = np.einsum("nji,nji->n", x, x)
    scale = s.sum(axis=1) / np.where(norm_x > 0, norm_x, 1.0)
    return scale[:, None, None] * (x @ rot) + mu_g


def p_mpjpe(pred: np.ndarray, gt: np.ndarray, per_frame: bool = False) -> float | np.ndarray:
    """P2: MPJPE after per-frame Procrustes alignment (rotation, scale, translation; no reflection)."""
    return mpjpe(procrustes_align(pred, gt), gt, per_frame=per_frame)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, per_frame: bool = False) -> float | np.ndarray:
    """N-MPJPE: MPJPE after the per-frame least-squares scale `s = <gt, pred> / <pred, pred>` (no
    centring, no rotation), as VideoPose3D's `n_mpjpe`."""
    pred, gt = _check(pred, gt)
    num = np.einsum("nji,nji->n", gt, pred)
    den = np.einsum("nji,nji->n", pred, pred)
    scale = num / np.where(den > 0, den, 1.0)
    return mpjpe(scale[:, None, None] * pred, gt, per_frame=per_frame)


def mpjve(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJVE: mean per-joint velocity error over consecutive frames of ONE sequence, (T, J, 3) with T >= 2.
    Unit: input unit per frame (mm/frame for mm input)."""
    pred, gt = _check(pred, gt)
    if pred.shape[0] < 2:
        raise ValueError("mpjve needs at least 2 consecutive frames")
    dv = np.diff(pred, axis=0) - np.diff(gt, axis=0)
    return float(np.linalg.norm(dv, axis=-1).mean())


def _select(dist: np.ndarray, joints: Sequence[int] | None) -> np.ndarray:
    return dist if joints is None else dist[:, list(joints)]


def pck(pred: np.ndarray, gt: np.ndarray, threshold: float = 150.0,
        joints: Sequence[int] | None = None) -> float:
    """3D PCK in percent [0, 100]: share of (frame, joint) pairs with distance strictly below `threshold` mm,
    over `joints` (None = all). Use `MPI_PCK_14_JOINTS` / `H36M_PCK_14_JOINTS` for the official form."""
    dist = _select(joint_errors(pred, gt), joints)
    return float((dist < threshold).mean() * 100.0)


def auc(pred: np.ndarray, gt: np.ndarray, joints: Sequence[int] | None = None,
        thresholds: np.ndarray = AUC_THRESHOLDS_MM) -> float:
    """AUC in percent [0, 100]: mean of `pck` over `thresholds` (default 0:5:150 mm, 31 values)."""
    dist = _select(joint_errors(pred, gt), joints)
    return float(np.mean([(dist < t).mean() for t in thresholds]) * 100.0)


def aggregate(errors_per_frame: np.ndarray, actions: np.ndarray | Sequence[str]) -> dict:
    """Group per-frame errors (N,) by action label (N,) str.

    Returns {"per_action": {action: mean}, "mean_over_actions": mean of the per-action means (the
    VideoPose3D / CA-PF H36M protocol), "mean_over_frames": plain mean over all N frames}.
    """
    err = np.asarray(errors_per_frame, dtype=np.float64)
    act = np.asarray(actions)
    if err.ndim != 1 or act.shape != err.shape or err.size == 0:
        raise ValueError(f"need non-empty (N,) errors and (N,) actions; got {err.shape} and {act.shape}")
    per_action = {str(a): float(err[act == a].mean()) for a in np.unique(act)}
    return {
        "per_action": per_action,
        "mean_over_actions": float(np.mean(list(per_action.values()))),
        "mean_over_frames": float(err.mean()),
    }
