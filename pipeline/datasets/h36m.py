"""Human3.6M adapter: `S*/Videos/<Action> <sub>.<camera>.mp4` + `S*/MyPoseFeatures/D3_Positions/<Action> <sub>.cdf`.

Poses: cdf variable `Pose` (1, N, 96) = 32 joints, world mm -> `h36m17` (VideoPose3D joint selection), camera
frame mm; GT 2D = projection with distortion (px). Cameras: `<root>/metadata.xml` when present, else the built-in
published table (`h36m_cameras`). Action names follow VideoPose3D (TakingPhoto -> Photo, WalkingDog -> WalkDog;
the file stem "<Action> <sub>" or "<Action>" is the npz key), so 2D detection npz files align. Videos longer than
the mocap are truncated to the mocap length; mocap longer than its video to the video's length (reported, one line).
An unreadable .cdf fails its action's clips alone (the others proceed). S11 "Directions" (corrupt video in the real
data) is skipped.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import cdflib
import numpy as np

from pipeline.clip import Clip
from pipeline.datasets.base import (
    TRUNCATED,
    DatasetAdapter,
    Skip,
    check_stride,
    failed_file,
    missing_subjects,
    require_root,
)
from pipeline.datasets.h36m_cameras import CAMERA_IDS, builtin_camera, parse_metadata_xml
from pipeline.datasets.video import iter_video_frames, video_fps, video_frame_count
from schemas.camera import Camera, project, world_to_camera
from schemas.errors import InputError
from schemas.joints import convert

NAME = "h36m"
JOINT_SET = "h36m17"
SKIP_RULES = {("S11", "Directions"): "S11 'Directions' is skipped: its video is corrupt in the real dataset "
                                     "(VideoPose3D drops it too)"}
_VIDEO_RE = re.compile(r"^(?P<stem>.+)\.(?P<cam>\d+)\.mp4$")


def canonical_action(stem: str) -> tuple[str, str]:
    """File stem -> (action, subaction) in VideoPose3D naming: 'TakingPhoto 1' -> ('Photo', '1')."""
    name = stem.replace("TakingPhoto", "Photo").replace("WalkingDog", "WalkDog")
    parts = name.rsplit(" ", 1)
    if len(parts) == 2 and parts[1].isdigit():
        return parts[0], parts[1]
    return name, ""


def vp3d_name(action: str, subaction: str) -> str:
    """The VideoPose3D key: '<Action> <sub>' or '<Action>'."""
    return f"{action} {subaction}".rstrip()


def read_cdf_pose(path: Path) -> np.ndarray:
    """(N, 32, 3) float64 world mm from an H36M D3_Positions .cdf (variable `Pose`, (1, N, 96))."""
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes)")
    try:
        pose = np.asarray(cdflib.CDF(str(path))["Pose"], dtype=np.float64)
    except Exception as e:  # cdflib raises plain OSError/ValueError/KeyError on foreign files
        raise InputError(f"{path}: cannot read as an H36M pose .cdf with variable 'Pose' ({type(e).__name__}: {e}); "
                         "the file is truncated, corrupt or of another kind") from None
    if pose.size == 0 or pose.shape[-1] != 96:
        raise InputError(f"{path}: variable 'Pose' has shape {pose.shape}, expected (1, N, 96) (32 joints x 3)")
    return pose.reshape(-1, 32, 3)


def load_cameras(root: Path | None) -> tuple[dict[tuple[str, str], Camera] | None, str]:
    """Cameras from `<root>/metadata.xml` if present: ({(subject, id): Camera}, source); (None, 'built-in') else."""
    if root is not None and (Path(root) / "metadata.xml").is_file():
        return parse_metadata_xml(Path(root) / "metadata.xml"), str(Path(root) / "metadata.xml")
    return None, "built-in"


def get_camera(table: dict[tuple[str, str], Camera] | None, subject: str, camera_id: str) -> Camera:
    if table is None:
        return builtin_camera(subject, camera_id)
    if (subject, camera_id) not in table:
        raise InputError(f"camera {camera_id!r} of {subject} is not in metadata.xml (ids: "
                         f"{', '.join(sorted({c for _, c in table}))})")
    return table[(subject, camera_id)]


def _subject_dirs(root: Path) -> list[str]:
    return sorted((p.name for p in root.iterdir() if p.is_dir() and re.fullmatch(r"S\d+", p.name)),
                  key=lambda s: int(s[1:]))


def _frames(n_mocap: int, video: Path, stride: int, skips: list[Skip]) -> np.ndarray:
    """Source frames of a clip: the mocap's, truncated to the video's length (container header) when the video is
    shorter (a TRUNCATED note); videos longer than the mocap are truncated to it silently (documented)."""
    n_video = video_frame_count(video)
    n = n_mocap if n_video <= 0 else min(n_mocap, n_video)
    if n < n_mocap:
        skips.append(Skip(str(video), f"the mocap has {n_mocap} frames, the video {n_video}: rows truncated to the "
                                      f"video's {n}", TRUNCATED))
    return np.arange(0, n, stride, dtype=np.int32)


class H36M(DatasetAdapter):
    """Human3.6M (see the module docstring); 50 fps videos."""

    name = NAME
    joint_set = JOINT_SET
    fps = 50.0

    def list_clips(self, root: Path, subjects: list[str] | None = None, frame_stride: int = 1,
                   actions: list[str] | None = None) -> tuple[list[Clip], list[Skip]]:
        """One clip per (subject, action, subaction, camera) video, in subject / action / VideoPose3D camera order.

        `actions` filters by base action ('Walking') or full name ('Walking 1'), either file or VideoPose3D spelling.
        """
        root = require_root(root, NAME)
        stride = check_stride(frame_stride)
        found = _subject_dirs(root)
        missing_subjects(subjects, found, root, NAME)
        table, _ = load_cameras(root)
        wanted = None if actions is None else {a for x in actions for a in (x, vp3d_name(*canonical_action(x)))}
        clips: list[Clip] = []
        skips: list[Skip] = []
        for subject in subjects or found:
            vdir, pdir = root / subject / "Videos", root / subject / "MyPoseFeatures" / "D3_Positions"
            if not vdir.is_dir():
                skips.append(Skip(str(vdir), "no Videos folder"))
                continue
            poses = {canonical_action(p.stem): p for p in sorted(pdir.glob("*.cdf"))} if pdir.is_dir() else {}
            videos: dict[tuple[str, str], dict[str, Path]] = {}
            for v in sorted(vdir.glob("*.mp4")):
                m = _VIDEO_RE.match(v.name)
                if m is None:
                    skips.append(Skip(str(v), "file name is not '<Action> <sub>.<camera id>.mp4'"))
                    continue
                videos.setdefault(canonical_action(m["stem"]), {})[m["cam"]] = v
            for (action, sub), by_cam in sorted(videos.items()):
                name = vp3d_name(action, sub)
                if wanted is not None and action not in wanted and name not in wanted:
                    continue
                if (subject, name) in SKIP_RULES:
                    skips.extend(Skip(str(p), SKIP_RULES[(subject, name)]) for p in by_cam.values())
                    continue
                pose_file = poses.get((action, sub))
                if pose_file is None:
                    skips.extend(Skip(str(p), f"no pose file {pdir}/{name}.cdf (or its TakingPhoto/WalkingDog "
                                              "spelling)") for p in by_cam.values())
                    continue
                try:
                    world17 = convert(read_cdf_pose(pose_file), "h36m32", JOINT_SET)
                except InputError as e:  # this action's clips fail; every other clip proceeds
                    skips.append(failed_file(pose_file, e, f"{subject}/{name}/*", "re-download or re-export it, "
                                             "or leave the action out with --actions"))
                    continue
                for cam_id in sorted(by_cam, key=lambda c: (CAMERA_IDS.index(c) if c in CAMERA_IDS else 99, c)):
                    video = by_cam[cam_id]
                    known = CAMERA_IDS if table is None else sorted({c for s, c in table if s == subject})
                    if cam_id not in known:
                        skips.append(Skip(str(video), f"camera id {cam_id} is not in the H36M camera table "
                                                      f"({', '.join(known)})"))
                        continue
                    frames = _frames(world17.shape[0], video, stride, skips)
                    cam = get_camera(table, subject, cam_id)
                    cam3d = world_to_camera(world17[frames], cam.R_w2c, cam.t_w2c)
                    n = frames.size
                    clips.append(Clip(
                        dataset=NAME, subject=subject, action=action, subaction=sub, camera_id=cam_id,
                        source=str(video.relative_to(root)), joint_set=JOINT_SET, cameras=[cam], frame=frames,
                        person=np.zeros(n, np.int32), image=np.arange(n, dtype=np.int32), camera=np.zeros(n, np.int32),
                        kp2d_gt=project(cam3d, cam).astype(np.float32), pose3d_cam=cam3d.astype(np.float32),
                        valid=np.ones(n, bool), frames=partial(iter_video_frames, video, frames), fps=video_fps(video)))
        return clips, skips

    def camera_table(self, root: Path | None = None) -> list[dict]:
        """Rows of `pipeline cameras h36m`: metadata.xml cameras under `root` if present, else the built-in table."""
        if root is not None:
            require_root(root, NAME)
        table, _ = load_cameras(root)
        if table is None:
            from pipeline.datasets.h36m_cameras import builtin_cameras
            table = builtin_cameras()
        def order(key: tuple[str, str]) -> tuple[int, int]:
            return int(key[0][1:]), CAMERA_IDS.index(key[1]) if key[1] in CAMERA_IDS else 99

        return [{"subject": key[0], **table[key].to_dict()} for key in sorted(table, key=order)]


ADAPTER = H36M()
