"""Synthetic generator: determinism, layouts, and the depth cues (occlusion, nearer = brighter, size ~ 1/z)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.datasets.video import iter_video_frames
from pipeline.synth import synth_dataset
from pipeline.synth.body import animate, to_h36m32
from pipeline.synth.h36m import synth_h36m
from pipeline.synth.render import palette, render
from schemas.camera import Camera
from schemas.errors import InputError
from schemas.joints import H36M_17


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in (".cdf", ".json", ".mat")}


def test_deterministic_and_layout(tmp_path):
    for name in ("a", "b"):
        if name == "b":
            time.sleep(1.1)  # across a clock second: no write time may leak into the bytes (gzip headers once did)
        synth_h36m(tmp_path / name, ["S9"], ["Walking 1"], frames=3, seed=7, cameras=["55011271"])
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != {}
    video = tmp_path / "a/S9/Videos/Walking 1.55011271.mp4"
    assert (tmp_path / "a/S9/MyPoseFeatures/D3_Positions/Walking 1.cdf").is_file()
    frames_a = list(iter_video_frames(video, range(5)))  # 3 mocap frames + 2 extra video frames
    assert len(frames_a) == 5 and frames_a[0].shape == (1000, 1000, 3)
    frames_b = list(iter_video_frames(tmp_path / "b/S9/Videos/Walking 1.55011271.mp4", range(5)))
    assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b, strict=True))
    with pytest.raises(InputError, match="only 5"):
        list(iter_video_frames(video, [5]))
    synth_h36m(tmp_path / "c", ["S9"], ["Walking 1"], frames=3, seed=8, cameras=["55011271"])
    assert _digest(tmp_path / "c") != _digest(tmp_path / "a")


def test_body_bones_and_h36m32_layout():
    rich = animate("walk", 30, 50, np.random.default_rng(0))
    j17 = rich[:, :17]
    lengths = {c: np.linalg.norm(j17[:, c] - j17[:, p], axis=-1) for p, c in H36M_17.bones()}
    np.testing.assert_allclose(lengths[2], 450, atol=1e-6)  # thigh
    np.testing.assert_allclose(lengths[3], 445, atol=1e-6)  # shin
    np.testing.assert_allclose(lengths[12], 280, atol=1e-6)  # upper arm
    assert np.all(rich[..., 2] >= 19.9)  # above the floor
    assert np.linalg.norm(rich[-1, 0, :2] - rich[0, 0, :2]) > 300  # global translation while walking
    h32 = to_h36m32(rich)
    np.testing.assert_allclose(h32[:, 16], h32[:, 13])
    np.testing.assert_allclose(h32[:, 24], h32[:, 13])


def _scene(dz_wrist: float) -> tuple[np.ndarray, np.ndarray, Camera]:
    cam = Camera(f=[1000, 1000], c=[256, 256], width=512, height=512)
    rich = animate("arms", 1, 50, np.random.default_rng(4))[0]
    # a camera 4 m in front of the person (camera frame: x right, y down, z forward)
    pts = np.stack([rich[:, 0], -(rich[:, 2] - 900), rich[:, 1] - rich[0, 1] + 4000], -1)
    pts[0] = [0, 0, 4000]
    pts[[13, 21, 23]] += [0, 0, dz_wrist]  # left wrist and hand nearer / farther
    bg = np.zeros((512, 512, 3), np.uint8)
    colors = palette(np.random.default_rng(1))
    colors["skin"] = np.array([0.8, 0.8, 0.8])
    return render(bg, [pts], cam, [colors]), pts, cam


def test_depth_cues():
    from schemas.camera import project

    near, pts_n, cam = _scene(-500)
    far, pts_f, _ = _scene(+500)
    u, v = np.round(project(pts_n[21], cam)).astype(int)
    un, vn = np.round(project(pts_f[21], cam)).astype(int)
    b_near = near[v - 1:v + 2, u - 1:u + 2].mean()
    b_far = far[vn - 1:vn + 2, un - 1:un + 2].mean()
    assert b_near > b_far * 1.3 > 0  # nearer = brighter
    # thickness ~ 1/z: the drawn area of the body shrinks with distance
    cam2 = Camera(f=[1000, 1000], c=[256, 256], width=512, height=512)
    bg = np.zeros((512, 512, 3), np.uint8)
    col = palette(np.random.default_rng(1))
    area = [(render(bg, [pts_n + [0, 0, dz]], cam2, [col]).sum(-1) > 0).sum() for dz in (0, 4000)]
    assert 3.0 < area[0] / area[1] < 5.0  # twice the distance -> about a quarter of the area
    # occlusion: a second person in front hides the first where they overlap
    both = render(bg, [pts_n, pts_n + [0, 0, -1500]], cam2, [col, {k: v * 0 + 0.2 for k, v in col.items()}])
    front = render(bg, [pts_n + [0, 0, -1500]], cam2, [{k: v * 0 + 0.2 for k, v in col.items()}])
    mask = front.sum(-1) > 0
    np.testing.assert_array_equal(both[mask], front[mask])


def test_synth_dataset_arguments(tmp_path):
    with pytest.raises(InputError, match="valid names"):
        synth_dataset("coco", tmp_path)
    with pytest.raises(InputError, match="--size"):
        synth_dataset("h36m", tmp_path, size=128)
    with pytest.raises(InputError, match="--frames"):
        synth_dataset("muco", tmp_path, frames=0)
