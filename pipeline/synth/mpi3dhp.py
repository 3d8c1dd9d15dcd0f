"""Synthetic MPI-INF-3DHP raw layout.

Train `S*/Seq*/`: `imageSequence/video_{cam}.avi` (mjpeg, 25 fps) for the rendered cameras, `annot.mat` (v5,
cells for all 14 cameras: annot2 (F, 56), annot3 / univ_annot3 (F, 84), 28 joints), `camera.calibration`
(Skeletool text, 14 cameras on a ring, ceiling cameras 11-13). Test `TS*/`: `imageSequence/img_{i:06d}.jpg` at the
built-in test camera's resolution and `annot_data.mat` (HDF5 with the MATLAB 7.3 header; annot2 (n, 1, 17, 2),
annot3 / univ_annot3 (n, 1, 17, 3), valid_frame (n, 1)).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io

from pipeline.datasets.mpi3dhp import TRAIN_CAMERAS, test_camera
from pipeline.datasets.mpi3dhp_files import CALIBRATION_HEADER
from pipeline.synth.body import animate, kind_for_action, stable_seed, to_mpi17, to_mpi28
from pipeline.synth.encode import write_jpeg, write_video
from pipeline.synth.render import background, palette, render
from schemas.camera import Camera, project, world_to_camera

FPS = 25
DEFAULT_SUBJECTS = ("S1", "TS1")
DEFAULT_ACTIONS = ("Seq1", "Seq2")
N_CAMERAS = 14


def look_at(centre: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R_w2c, t_w2c) of a camera at `centre` looking at `target` (world z up; image y down)."""
    z = (target - centre) / np.linalg.norm(target - centre)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x = x / np.linalg.norm(x) if np.linalg.norm(x) > 1e-6 else np.array([1.0, 0, 0])
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ centre


def rig(size: int, seed: int) -> list[Camera]:
    """14 studio cameras ('0'..'13') on a 4.2 m ring, looking at the capture centre; size x size px."""
    rng = np.random.default_rng(stable_seed("3dhp-rig", seed))
    cams = []
    for i in range(N_CAMERAS):
        ang = 2 * np.pi * i / 11 + rng.uniform(-0.1, 0.1)
        ceiling = i >= 11
        centre = np.array([4200 * np.cos(ang) * (0.5 if ceiling else 1), 4200 * np.sin(ang) * (0.5 if ceiling else 1),
                           3200.0 if ceiling else rng.uniform(800, 2400)])
        R, t = look_at(centre, np.array([0.0, 0.0, 900.0]))
        f = 1500.0 * size / 2048 * rng.uniform(0.97, 1.03)
        cams.append(Camera(f=[f, f * rng.uniform(0.999, 1.001)], c=size / 2 + rng.uniform(-15, 15, 2) * size / 2048,
                           R_w2c=R, t_w2c=t, width=size, height=size, id=str(i)))
    return cams


def write_calibration(path: Path, cams: list[Camera]) -> None:
    lines = [CALIBRATION_HEADER]
    for cam in cams:
        K = np.eye(4)
        K[:3, :3] = cam.K
        E = np.eye(4)
        E[:3, :3], E[:3, 3] = cam.R_w2c, cam.t_w2c
        lines += [f"name          {cam.id}", "  sensor      10 10", f"  size        {cam.width} {cam.height}",
                  "  animated    0", "  intrinsic   " + " ".join(f"{v:.10g}" for v in K.ravel()),
                  "  extrinsic   " + " ".join(f"{v:.10g}" for v in E.ravel()), "  radial      0"]
    Path(path).write_text("\n".join(lines) + "\n")


def _univ(p: np.ndarray, root: int) -> np.ndarray:
    """Universal-skeleton stand-in: the pose scaled about its root by a fixed factor (3DHP rescales to a 'universal'
    height; only the layout matters here)."""
    r = p[..., root:root + 1, :]
    return r + (p - r) * 0.95


def _subject_motion(subject: str, action: str, n: int, seed: int) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(stable_seed("3dhp", seed, subject, action))
    colors = palette(np.random.default_rng(stable_seed("colors3dhp", seed, subject)))
    return animate(kind_for_action(action), n, FPS, rng, radius=900.0), colors


def synth_train(out: Path, subject: str, seq: str, frames: int, seed: int, cameras: list[int], size: int) -> int:
    sdir = Path(out) / subject / seq
    (sdir / "imageSequence").mkdir(parents=True, exist_ok=True)
    cams = rig(size, seed)
    write_calibration(sdir / "camera.calibration", cams)
    rich, colors = _subject_motion(subject, seq, frames, seed)
    a2, a3, u3 = (np.empty((N_CAMERAS, 1), object) for _ in range(3))
    for i, cam in enumerate(cams):
        p28 = to_mpi28(world_to_camera(rich, cam.R_w2c, cam.t_w2c))
        a2[i, 0] = project(p28, cam).reshape(frames, 56)
        a3[i, 0] = p28.reshape(frames, 84)
        u3[i, 0] = _univ(p28, 4).reshape(frames, 84)
    scipy.io.savemat(sdir / "annot.mat", {"annot2": a2, "annot3": a3, "univ_annot3": u3,
                                          "frames": np.arange(frames, dtype=np.float64)[:, None],
                                          "cameras": np.arange(N_CAMERAS, dtype=np.float64)[None]})
    for ci in cameras:
        cam = cams[ci]
        bg = background(size, size, np.random.default_rng(stable_seed("bg3dhp", seed, subject, ci)))
        write_video(sdir / "imageSequence" / f"video_{ci}.avi",
                    (render(bg, [world_to_camera(j, cam.R_w2c, cam.t_w2c)], cam, [colors]) for j in rich), FPS, "avi")
    return frames * len(cameras)


def write_annot_data_mat(path: Path, annot2: np.ndarray, annot3: np.ndarray, univ3: np.ndarray,
                         valid: np.ndarray) -> None:
    """HDF5 test annotations in h5py's view of MATLAB v7.3 arrays; (n, 17, 2/3) inputs, 512-byte MATLAB header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = annot2.shape[0]
    with h5py.File(path, "w", userblock_size=512) as f:
        f["annot2"] = annot2.reshape(n, 1, 17, 2)
        f["annot3"] = annot3.reshape(n, 1, 17, 3)
        f["univ_annot3"] = univ3.reshape(n, 1, 17, 3)
        f["valid_frame"] = np.asarray(valid, np.float64).reshape(n, 1)
        f["activity_annotation"] = np.ones((n, 1))
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: synthetic HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" "))


def synth_test(out: Path, subject: str, frames: int, seed: int) -> int:
    tdir = Path(out) / subject
    cam = test_camera(subject)
    R, t = look_at(np.array([0.0, -4300.0, 1300.0]), np.array([0.0, 0.0, 950.0]))
    rich, colors = _subject_motion(subject, "test", frames, seed)
    cam_pts = world_to_camera(rich, R, t)
    p17 = to_mpi17(cam_pts)
    write_annot_data_mat(tdir / "annot_data.mat", project(p17, cam), p17, _univ(p17, 14), np.ones(frames, bool))
    bg = background(cam.width, cam.height, np.random.default_rng(stable_seed("bg3dhp", seed, subject)))
    for i in range(frames):
        write_jpeg(tdir / "imageSequence" / f"img_{i + 1:06d}.jpg", render(bg, [cam_pts[i]], cam, [colors]))
    return frames


def synth_3dhp(out: Path, subjects: list[str] | None = None, actions: list[str] | None = None, frames: int = 16,
               seed: int = 0, cameras: list[int] | None = None, size: int = 1024) -> dict:
    """Write train subjects (S*) with sequences `actions` and test subjects (TS*) under `out`; train videos are
    size x size (the calibration file carries it), test images use the built-in test camera resolution."""
    subjects = list(subjects or DEFAULT_SUBJECTS)
    actions = list(actions or DEFAULT_ACTIONS)
    cams = list(TRAIN_CAMERAS if cameras is None else cameras)
    if size % 2:
        raise ValueError(f"size must be even (yuv420p video), got {size}")
    rows = 0
    for s in subjects:
        if s.startswith("TS"):
            rows += synth_test(out, s, frames, seed)
        else:
            for seq in actions:
                rows += synth_train(out, s, seq, frames, seed, cams, size)
    return {"dataset": "3dhp", "root": str(out), "rows": rows}
