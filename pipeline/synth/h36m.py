"""Synthetic Human3.6M raw layout: `S*/Videos/<Action>.<camera>.mp4` (H.264, real resolutions, 50 fps) and
`S*/MyPoseFeatures/D3_Positions/<Action>.cdf` (`Pose` (1, N, 96) float32, 32 joints, world mm).

Cameras are the built-in published table, so the adapter's GT 2D land on the rendered joints. Videos are
`EXTRA_VIDEO_FRAMES` longer than the mocap, as in the real data (the adapter truncates).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from cdflib.cdfwrite import CDF

from pipeline.datasets.h36m_cameras import CAMERA_IDS, builtin_camera
from pipeline.synth.body import animate, kind_for_action, stable_seed, to_h36m32
from pipeline.synth.encode import write_video
from pipeline.synth.render import background, palette, render
from schemas.camera import Camera, world_to_camera

FPS = 50
EXTRA_VIDEO_FRAMES = 2
DEFAULT_SUBJECTS = ("S1", "S9")
DEFAULT_ACTIONS = ("Directions 1", "Walking 1")


def sequence(subject: str, action: str, n_frames: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(N, 25, 3) rich world joints (mm) of one subject/action and its colour palette; deterministic."""
    rng = np.random.default_rng(stable_seed("h36m", seed, subject, action))
    scale = 1.0 + 0.05 * np.random.default_rng(stable_seed("scale", seed, subject)).uniform(-1, 1)
    colors = palette(np.random.default_rng(stable_seed("colors", seed, subject)))
    return animate(kind_for_action(action), n_frames, FPS, rng, scale=scale, radius=1000.0), colors


def camera_background(cam: Camera, subject: str, seed: int) -> np.ndarray:
    return background(cam.width, cam.height, np.random.default_rng(stable_seed("bg", seed, subject, cam.id)))


def render_video_frames(rich_world: np.ndarray, colors: dict, cam: Camera, bg: np.ndarray):
    """Yield the (H, W, 3) uint8 frames of one camera view."""
    for joints in rich_world:
        yield render(bg, [world_to_camera(joints, cam.R_w2c, cam.t_w2c)], cam, [colors])


def write_cdf(path: Path, pose32_world: np.ndarray) -> None:
    """Write (N, 32, 3) world mm as an H36M D3_Positions cdf (variable `Pose`, (1, N, 96) float32)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    data = pose32_world.reshape(1, -1, 96).astype(np.float32)
    # Uncompressed: cdflib's gzip stream stamps the write time, which would make the bytes differ run to run.
    cdf = CDF(str(path), cdf_spec={"Majority": "Row_major"})
    try:
        cdf.write_var({"Variable": "Pose", "Data_Type": CDF.CDF_FLOAT, "Num_Elements": 1, "Rec_Vary": True,
                       "Dim_Sizes": list(data.shape[1:]), "Compress": 0}, var_attrs={}, var_data=data)
    finally:
        cdf.close()


def synth_h36m(out: Path, subjects: list[str] | None = None, actions: list[str] | None = None, frames: int = 16,
               seed: int = 0, cameras: list[str] | None = None) -> dict:
    """Write the H36M layout under `out`; actions in file spelling ('Walking 1', 'TakingPhoto'). Returns a summary."""
    out = Path(out)
    subjects = list(subjects or DEFAULT_SUBJECTS)
    actions = list(actions or DEFAULT_ACTIONS)
    cam_ids = list(cameras or CAMERA_IDS)
    n_video = 0
    for subject in subjects:
        for action in actions:
            rich, colors = sequence(subject, action, frames + EXTRA_VIDEO_FRAMES, seed)
            write_cdf(out / subject / "MyPoseFeatures" / "D3_Positions" / f"{action}.cdf", to_h36m32(rich[:frames]))
            for cid in cam_ids:
                cam = builtin_camera(subject, cid)
                bg = camera_background(cam, subject, seed)
                write_video(out / subject / "Videos" / f"{action}.{cid}.mp4",
                            render_video_frames(rich, colors, cam, bg), FPS, "mp4")
                n_video += 1
    return {"dataset": "h36m", "root": str(out), "videos": n_video, "mocap_frames": frames,
            "rows": len(subjects) * len(actions) * len(cam_ids) * frames}
