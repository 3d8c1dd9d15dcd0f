"""MPI-INF-3DHP adapter (dataset name `3dhp`), joint set `mpi17` (28 -> 17 'relevant' joints, root = pelvis 14).

Train: `S{1..8}/Seq{1,2}/imageSequence/video_{cam}.avi` + `annot.mat` + `camera.calibration`, cameras of the
standard (VNect) set [0, 1, 2, 4, 5, 6, 7, 8]; one clip per (subject, sequence, camera); rows are the first F
annotated frames (F from the published per-sequence frame counts, mmpose `preprocess_mpi_inf_3dhp.py`).
Test: `TS{1..6}/imageSequence/img_{i:06d}.jpg` + `annot_data.mat` (HDF5) with `valid_frame` kept as the row mask;
built-in intrinsics (TS1-4 studio 2048 x 2048, TS5-6 outdoor 1920 x 1080), R = I, t = 0 (annotations are camera
frame). Both `<root>/S1` and the mmpose layout `<root>/train/S1`, `<root>/test/TS1` are accepted.
GT 3D: `annot3` (camera mm, reprojects onto `annot2`) as rows/pose3d_cam, and `univ_annot3` (the universal-skeleton
rescaling the official evaluation and the papers' tables use) as rows/pose3d_univ when the files hold it.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np

from pipeline.clip import Clip
from pipeline.datasets.base import DatasetAdapter, Skip, check_stride, failed_file, missing_subjects, require_root
from pipeline.datasets.mpi3dhp_files import read_annot_data_mat, read_annot_mat, read_calibration
from pipeline.datasets.video import iter_image_files, iter_video_frames, video_fps
from schemas.camera import Camera
from schemas.errors import InputError
from schemas.joints import convert

NAME = "3dhp"
JOINT_SET = "mpi17"
TRAIN_CAMERAS: tuple[int, ...] = (0, 1, 2, 4, 5, 6, 7, 8)
TRAIN_FRAMES: dict[tuple[int, int], int] = {
    (1, 1): 6416, (1, 2): 12430, (2, 1): 6502, (2, 2): 6081, (3, 1): 12488, (3, 2): 12283, (4, 1): 6171,
    (4, 2): 6675, (5, 1): 12820, (5, 2): 12312, (6, 1): 6188, (6, 2): 6145, (7, 1): 6239, (7, 2): 6320,
    (8, 1): 6468, (8, 2): 6054}
TEST_FRAMES: dict[int, int] = {1: 6151, 2: 6080, 3: 5838, 4: 6007, 5: 320, 6: 492}
TEST_ACTION = "Test"


def test_camera(subject: str) -> Camera:
    """Built-in camera of a test sequence TS1..TS6 (studio cam 8 for TS1-4, outdoor for TS5-6; as in CA-PF)."""
    m = re.fullmatch(r"TS([1-6])", subject)
    if m is None:
        raise InputError(f"3dhp test subject {subject!r} is not one of TS1..TS6")
    if int(m[1]) <= 4:
        return Camera(f=[1500.172288, 1500.172288], c=[1017.38733568, 1043.03198208], width=2048, height=2048,
                      id="studio")
    return Camera(f=[1683.98345952, 1672.59], c=[939.85754016, 560.14074317], width=1920, height=1080,
                  id="outdoor")


def _find(root: Path, split: str, pattern: str) -> dict[str, Path]:
    out = {}
    for base in (root, root / split):
        if base.is_dir():
            for p in base.iterdir():
                if p.is_dir() and re.fullmatch(pattern, p.name):
                    out.setdefault(p.name, p)
    return out


def _rows(n: int, stride: int, start: int = 0) -> np.ndarray:
    return np.arange(start, n, stride, dtype=np.int32)


def _train_clips(subject: str, sdir: Path, root: Path, stride: int, actions: list[str] | None,
                 clips: list[Clip], skips: list[Skip]) -> None:
    seqs = sorted(p for p in sdir.iterdir() if p.is_dir() and re.fullmatch(r"Seq\d+", p.name))
    if not seqs:
        skips.append(Skip(str(sdir), "no Seq<n> folders (3dhp train layout: S<n>/Seq<n>/imageSequence/video_<cam>.avi "
                                     "+ annot.mat + camera.calibration)"))
    for seq_dir in seqs:
        seq = seq_dir.name
        if actions is not None and seq not in actions:
            continue
        annot_file, calib_file = seq_dir / "annot.mat", seq_dir / "camera.calibration"
        try:  # a sequence with a missing or unreadable annotation fails alone; the others proceed
            for f in (annot_file, calib_file):
                if not f.is_file():
                    raise InputError(f"3dhp: {f} is missing; every S*/Seq* folder needs annot.mat and "
                                     "camera.calibration")
            annot = read_annot_mat(annot_file)
            cams = read_calibration(calib_file)
        except InputError as e:
            skips.append(failed_file(seq_dir, e, f"{subject}/{seq}/*", "restore the file (re-download it), or "
                                     "leave the sequence out with --actions"))
            continue
        n_annot = annot["annot2"].shape[1]
        n = min(n_annot, TRAIN_FRAMES.get((int(subject[1:]), int(seq[3:])), n_annot))
        frames = _rows(n, stride)
        for cam in TRAIN_CAMERAS:
            video = seq_dir / "imageSequence" / f"video_{cam}.avi"
            if not video.is_file():
                skips.append(Skip(str(video), "video missing (camera of the standard set [0,1,2,4,5,6,7,8])"))
                continue
            if str(cam) not in cams or cam >= annot["annot2"].shape[0]:
                skips.append(Skip(str(video), f"camera {cam} is not in {calib_file.name} / annot.mat"))
                continue
            k2 = convert(annot["annot2"][cam, frames], "mpi28", JOINT_SET)
            k3 = convert(annot["annot3"][cam, frames], "mpi28", JOINT_SET)
            univ = convert(annot["univ_annot3"][cam, frames], "mpi28", JOINT_SET) if "univ_annot3" in annot else None
            clips.append(_clip(subject, seq, "", str(cam), video.relative_to(root), [cams[str(cam)]], frames,
                               k2, k3, np.ones(frames.size, bool), partial(iter_video_frames, video, frames),
                               video_fps(video), univ))


def _test_clip(subject: str, tdir: Path, root: Path, stride: int) -> Clip:
    annot = read_annot_data_mat(tdir / "annot_data.mat") if (tdir / "annot_data.mat").is_file() else None
    if annot is None:
        raise InputError(f"3dhp: {tdir / 'annot_data.mat'} is missing")
    n_annot = annot["annot2"].shape[0]
    n = min(n_annot, TEST_FRAMES.get(int(subject[2:]), n_annot))
    frames = _rows(n, stride)
    images = [tdir / "imageSequence" / f"img_{i + 1:06d}.jpg" for i in frames]
    return _clip(subject, TEST_ACTION, "", test_camera(subject).id, (tdir / "imageSequence").relative_to(root),
                 [test_camera(subject)], frames, annot["annot2"][frames], annot["annot3"][frames],
                 annot["valid"][frames], partial(iter_image_files, images),
                 univ=annot["univ_annot3"][frames] if "univ_annot3" in annot else None)


def _clip(subject, action, sub, cam_id, source, cameras, frames, k2, k3, valid, frame_fn, fps=None,
          univ=None) -> Clip:
    n = frames.size
    return Clip(dataset=NAME, subject=subject, action=action, subaction=sub, camera_id=cam_id, source=str(source),
                joint_set=JOINT_SET, cameras=cameras, frame=frames, person=np.zeros(n, np.int32),
                image=np.arange(n, dtype=np.int32), camera=np.zeros(n, np.int32), kp2d_gt=k2.astype(np.float32),
                pose3d_cam=k3.astype(np.float32), valid=np.asarray(valid, bool), frames=frame_fn, fps=fps,
                pose3d_univ=None if univ is None else np.asarray(univ, np.float32))


class MPI3DHP(DatasetAdapter):
    """MPI-INF-3DHP (see the module docstring); 25 fps train videos."""

    name = NAME
    joint_set = JOINT_SET
    fps = 25.0

    def list_clips(self, root: Path, subjects: list[str] | None = None, frame_stride: int = 1,
                   actions: list[str] | None = None) -> tuple[list[Clip], list[Skip]]:
        """Train clips (S*, one per sequence x standard camera) then test clips (TS*, one per sequence).

        `actions` filters train sequences by name ('Seq1'); test clips have action 'Test'.
        """
        root = require_root(root, NAME)
        stride = check_stride(frame_stride)
        train, test = _find(root, "train", r"S\d+"), _find(root, "test", r"TS\d+")
        found = sorted(train, key=lambda s: int(s[1:])) + sorted(test, key=lambda s: int(s[2:]))
        missing_subjects(subjects, found, root, NAME)
        clips: list[Clip] = []
        skips: list[Skip] = []
        for subject in subjects or found:
            if subject in train:
                _train_clips(subject, train[subject], root, stride, actions, clips, skips)
            elif actions is None or TEST_ACTION in actions:
                try:
                    clips.append(_test_clip(subject, test[subject], root, stride))
                except InputError as e:
                    skips.append(failed_file(test[subject], e, f"{subject}/{TEST_ACTION}/*", "restore the file "
                                             "(re-download it), or leave the subject out with --subjects"))
        return clips, skips

    def camera_table(self, root: Path | None = None) -> list[dict]:
        """Rows of `pipeline cameras 3dhp`: built-in test cameras, plus every train sequence's calibration under
        root."""
        rows = [{"subject": f"TS{i}", **test_camera(f"TS{i}").to_dict()} for i in range(1, 7)]
        if root is None:
            return rows
        root = require_root(root, NAME)
        train = _find(root, "train", r"S\d+")
        for subject in sorted(train, key=lambda s: int(s[1:])):
            for seq_dir in sorted(p for p in train[subject].iterdir() if (p / "camera.calibration").is_file()):
                cams = read_calibration(seq_dir / "camera.calibration")
                rows += [{"subject": subject, "sequence": seq_dir.name, **cams[str(c)].to_dict()}
                         for c in TRAIN_CAMERAS if str(c) in cams]
        return rows


ADAPTER = MPI3DHP()
