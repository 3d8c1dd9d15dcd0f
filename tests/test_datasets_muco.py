"""MuCo-3DHP adapter on synthetic raw data (COCO json + jpg stills, several people per image) and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.datasets import muco
from pipeline.synth.muco import synth_muco
from schemas.camera import project
from schemas.errors import InputError


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("muco")
    synth_muco(out, ["augmented_set"], frames=5, seed=2, size=256)
    return out


def test_round_trip(root):
    data = json.loads((root / "data/MuCo-3DHP.json").read_text())
    clips, skips = muco.ADAPTER.list_clips(root)
    assert skips == [] and len(clips) == 1 and clips[0].fps is None  # stills
    c = clips[0]
    assert c.length == len(data["annotations"]) and 10 <= c.length <= 15
    assert c.joint_set == "muco21" and c.pose3d_cam.shape == (c.length, 21, 3)
    assert np.all(np.diff(c.image) >= 0) and c.image.max() == 4  # contiguous rows per image
    np.testing.assert_array_equal(c.camera, c.image)
    for i in range(c.length):
        assert np.abs(project(c.pose3d_cam[i], c.cameras[c.camera[i]]) - c.kp2d_gt[i]).max() < 0.5
    first = [a for a in data["annotations"] if a["image_id"] == data["images"][0]["id"]]
    np.testing.assert_allclose(c.pose3d_cam[: len(first)], [a["keypoints_cam"] for a in first], atol=1e-3)
    np.testing.assert_array_equal(c.person[: len(first)], np.arange(len(first)))
    frames = list(c.frames())
    assert len(frames) == 5 and frames[0].shape == (256, 256, 3)
    np.testing.assert_allclose(c.cameras[0].f, data["images"][0]["f"])


def test_grouping(root, monkeypatch):
    whole = muco.ADAPTER.list_clips(root)[0][0]
    monkeypatch.setattr(muco, "GROUP", 2)
    clips, _ = muco.ADAPTER.list_clips(root)
    assert [c.subaction for c in clips] == ["0", "1", "2"]
    assert [len(list(c.frames())) for c in clips] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([c.frame for c in clips]), whole.frame)
    np.testing.assert_allclose(np.concatenate([c.pose3d_cam for c in clips]), whole.pose3d_cam)
    strided = muco.ADAPTER.list_clips(root, frame_stride=2)[0]
    assert [len(set(c.frame.tolist())) for c in strided] == [2, 1]  # images 1, 3, 5


def test_bad_input(root, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        muco.ADAPTER.list_clips(tmp_path / "x")
    with pytest.raises(InputError, match="MuCo-3DHP.json"):
        muco.ADAPTER.list_clips(tmp_path)
    with pytest.raises(InputError, match="S1"):
        muco.ADAPTER.list_clips(root, subjects=["S1"])
    r = tmp_path / "r"
    shutil.copytree(root, r)
    (r / "data/MuCo-3DHP.json").write_text('{"images": []}')
    with pytest.raises(InputError, match="annotations"):
        muco.ADAPTER.list_clips(r)
    (r / "data/MuCo-3DHP.json").write_text("[1, 2")
    with pytest.raises(InputError, match="MuCo-3DHP.json"):
        muco.ADAPTER.list_clips(r)
