"""Inputs checked against each other: a real re-encoded video against its camera, crop boxes against the frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.datasets.h36m import ADAPTER
from pipeline.datasets.video import iter_video_frames
from pipeline.frame_check import SIZE_TOLERANCE_PX, fit_frame_size
from pipeline.synth.encode import write_video
from pipeline.synth.h36m import synth_h36m
from schemas.errors import InputError

CAM = "54138969"  # 1000 x 1002 in the camera table


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    synth_h36m(root, subjects=["S1"], actions=["Directions 1"], frames=2, cameras=[CAM])
    return root


def reencode(video: Path, out: Path, width: int, height: int) -> None:
    """Re-encode a real H.264 video at another frame size (as a user's transcoding tool would)."""
    frames = [np.asarray(Image.fromarray(f).resize((width, height))) for f in iter_video_frames(video, range(4))]
    write_video(out, frames, 50, "mp4")


def _clip(root: Path):
    clips, _ = ADAPTER.list_clips(root)
    assert len(clips) == 1
    return clips[0]


def test_video_of_its_camera_size_passes_unchanged(raw: Path) -> None:
    clip = _clip(raw)
    fitted, note = fit_frame_size(clip)
    assert note is None and fitted.cameras[0].width == 1000 and fitted.cameras[0].height == 1002
    frames = list(fitted.frames())  # the probed frame is not lost
    assert len(frames) == 2 and frames[0].shape == (1002, 1000, 3)


def test_reencoded_video_fails_naming_both_sizes(raw: Path, tmp_path: Path) -> None:
    root = tmp_path / "raw"
    video = next((raw / "S1" / "Videos").glob("*.mp4"))
    (root / "S1" / "Videos").mkdir(parents=True)
    (root / "S1" / "MyPoseFeatures").symlink_to(raw / "S1" / "MyPoseFeatures")
    reencode(video, root / "S1" / "Videos" / video.name, 320, 240)
    with pytest.raises(InputError, match=r"clip S1/Directions 1/54138969 .*: its first decoded frame is 320x240 px "
                                         r"but its camera 54138969 says 1000x1002"):
        fit_frame_size(_clip(root))


def test_small_known_difference_uses_the_video_size_and_says_so(raw: Path, tmp_path: Path) -> None:
    root = tmp_path / "raw"
    video = next((raw / "S1" / "Videos").glob("*.mp4"))
    (root / "S1" / "Videos").mkdir(parents=True)
    (root / "S1" / "MyPoseFeatures").symlink_to(raw / "S1" / "MyPoseFeatures")
    reencode(video, root / "S1" / "Videos" / video.name, 1000, 1000)  # 2 px less than the table's 1000 x 1002
    fitted, note = fit_frame_size(_clip(root))
    assert (fitted.cameras[0].width, fitted.cameras[0].height) == (1000, 1000)
    assert note is not None and "1000x1000 px where the camera table says 1000x1002" in note
    assert f"within {SIZE_TOLERANCE_PX} px" in note
    assert [f.shape for f in fitted.frames()] == [(1000, 1000, 3)] * 2


def test_root_in_another_layout_says_why_each_file_was_skipped(tmp_path: Path) -> None:
    from flows.plan import make_plan
    from flows.work import BackboneRequest

    (tmp_path / "S1" / "Seq1" / "imageSequence").mkdir(parents=True)  # a 3dhp layout given as h36m
    with pytest.raises(InputError, match=r"no h36m clips found; 1 file\(s\) skipped: .*S1/Videos: no Videos folder"):
        make_plan("h36m", tmp_path, tmp_path / "s.zarr", BackboneRequest("hrnet32"))
    with pytest.raises(InputError, match=r"no 3dhp clips found; 1 file\(s\) skipped: .*S1/Seq1/annot.mat is "
                                         r"missing"):
        make_plan("3dhp", tmp_path, tmp_path / "s.zarr", BackboneRequest("hrnet32"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="nothing under it matches the h36m layout"):
        make_plan("h36m", empty, tmp_path / "s.zarr", BackboneRequest("hrnet32"))
    assert not (tmp_path / "s.zarr").exists()
