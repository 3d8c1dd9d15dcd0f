"""MPI-INF-3DHP adapter on synthetic raw data (mjpeg avi, annot.mat v5, HDF5 annot_data.mat, jpg) and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pipeline.datasets import mpi3dhp
from pipeline.datasets.base import FAILED
from pipeline.datasets.mpi3dhp_files import read_calibration
from pipeline.synth.mpi3dhp import synth_3dhp
from schemas.camera import project
from schemas.errors import InputError
from schemas.joints import convert


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("3dhp")
    synth_3dhp(out, ["S1"], ["Seq1"], frames=4, seed=1, cameras=[0, 2], size=128)
    synth_3dhp(out, ["TS5"], frames=2, seed=1)
    return out


def test_round_trip(root):
    clips, skips = mpi3dhp.ADAPTER.list_clips(root)
    assert [c.key for c in clips] == ["S1/Seq1/0", "S1/Seq1/2", "TS5/Test/outdoor"]
    assert [c.fps for c in clips] == [25.0, 25.0, None]  # the avi headers; jpg sequences carry no rate
    assert sorted(Path(s.source).name for s in skips) == [f"video_{c}.avi" for c in (1, 4, 5, 6, 7, 8)]
    mat = scipy.io.loadmat(str(root / "S1/Seq1/annot.mat"))
    assert mat["annot2"].shape == (14, 1) and mat["annot2"][2, 0].shape == (4, 56)
    want3 = convert(mat["annot3"][2, 0].reshape(4, 28, 3), "mpi28", "mpi17")
    np.testing.assert_allclose(clips[1].pose3d_cam, want3, rtol=1e-6)
    for c in clips:
        assert c.joint_set == "mpi17" and c.valid.all()
        assert np.abs(project(c.pose3d_cam, c.cameras[0]) - c.kp2d_gt).max() < 0.5
    cam = read_calibration(root / "S1/Seq1/camera.calibration")["2"]
    assert (cam.width, cam.height) == (128, 128)
    np.testing.assert_allclose(cam.R_w2c @ cam.R_w2c.T, np.eye(3), atol=1e-8)
    frames = list(clips[0].frames())
    assert len(frames) == 4 and frames[0].shape == (128, 128, 3)
    test = list(clips[2].frames())
    assert len(test) == 2 and test[0].shape == (1080, 1920, 3)
    np.testing.assert_allclose(clips[2].cameras[0].f, [1683.98345952, 1672.59])


def test_valid_mask_and_filters(root, tmp_path):
    r = tmp_path / "r"
    shutil.copytree(root, r)
    import h5py
    with h5py.File(r / "TS5/annot_data.mat", "r+") as f:
        f["valid_frame"][1, 0] = 0
    clip = mpi3dhp.ADAPTER.list_clips(r, subjects=["TS5"])[0][0]
    np.testing.assert_array_equal(clip.valid, [True, False])
    assert mpi3dhp.ADAPTER.list_clips(r, subjects=["S1"], actions=["Seq2"])[0] == []
    clips = mpi3dhp.ADAPTER.list_clips(r, subjects=["S1"], frame_stride=3)[0]
    np.testing.assert_array_equal(clips[0].frame, [0, 3])
    assert len(list(clips[0].frames())) == 2


def test_mmpose_layout(root, tmp_path):
    (tmp_path / "train").mkdir()
    shutil.copytree(root / "S1", tmp_path / "train" / "S1")
    assert len(mpi3dhp.ADAPTER.list_clips(tmp_path)[0]) == 2


def test_bad_input(root, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        mpi3dhp.ADAPTER.list_clips(tmp_path / "none")
    with pytest.raises(InputError, match="S3"):
        mpi3dhp.ADAPTER.list_clips(root, subjects=["S3"])
    with pytest.raises(InputError, match="TS7"):
        mpi3dhp.test_camera("TS7")
    r = tmp_path / "r"
    shutil.copytree(root, r)
    (r / "S1/Seq1/annot.mat").write_text("garbage")  # the sequence's clips fail alone, with the reason
    clips, skips = mpi3dhp.ADAPTER.list_clips(r, subjects=["S1", "TS5"])
    assert [c.subject for c in clips] == ["TS5"]
    assert [(s.kind, s.clip) for s in skips] == [(FAILED, "S1/Seq1/*")] and "annot.mat" in skips[0].reason
    scipy.io.savemat(r / "TS5/annot_data.mat", {"annot2": np.zeros((2, 34))})  # v5 where HDF5 is expected
    clips, skips = mpi3dhp.ADAPTER.list_clips(r, subjects=["TS5"])
    assert clips == [] and skips[0].kind == FAILED and "annot_data.mat" in skips[0].reason
    (r / "S1/Seq1/camera.calibration").write_text("hello\n")
    with pytest.raises(InputError, match="camera.calibration"):
        read_calibration(r / "S1/Seq1/camera.calibration")


def test_truncated_avi(root, tmp_path):
    r = tmp_path / "r"
    shutil.copytree(root, r)
    video = r / "S1/Seq1/imageSequence/video_0.avi"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    clip = mpi3dhp.ADAPTER.list_clips(r, subjects=["S1"])[0][0]
    with pytest.raises(InputError, match="video_0.avi"):
        list(clip.frames())
    (r / "TS5/imageSequence/img_000002.jpg").unlink()
    test = mpi3dhp.ADAPTER.list_clips(r, subjects=["TS5"])[0][0]
    with pytest.raises(InputError, match="img_000002.jpg"):
        list(test.frames())
