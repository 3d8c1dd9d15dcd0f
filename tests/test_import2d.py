"""VideoPose3D-style 2D detection npz: load, align to clip rows, truncation report, mismatch errors."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.import2d import align_positions_2d, load_positions_2d
from schemas.errors import InputError


def _det(n: int, offset: float) -> np.ndarray:
    return (np.arange(n)[:, None, None] * 10 + offset + np.zeros((n, 17, 2))).astype(np.float32)


@pytest.fixture
def npz(tmp_path):
    positions = {"S1": {"Walking 1": [_det(12, c) for c in range(4)], "Photo": [_det(10, c) for c in range(4)]},
                 "S9": {"Walking 1": [_det(8, c) for c in range(4)]}}
    path = tmp_path / "data_2d_h36m_cpn.npz"
    np.savez_compressed(path, positions_2d=positions, metadata={"num_joints": 17})
    return path


def test_load_and_align(npz):
    pos = load_positions_2d(npz)
    assert set(pos) == {"S1", "S9"} and len(pos["S1"]["Photo"]) == 4
    clips = [
        {"subject": "S1", "action": "Walking", "subaction": "1", "camera": "58860488", "length": 10,
         "frame": np.arange(10), "num_frames": 10},
        {"subject": "S1", "action": "Photo", "subaction": "", "camera": "54138969", "length": 5,
         "frame": np.arange(0, 10, 2), "num_frames": 10},
    ]
    arrays, report = align_positions_2d(pos, clips)
    assert arrays[0].shape == (10, 17, 2)
    np.testing.assert_array_equal(arrays[0][:, 0, 0], np.arange(10) * 10 + 2)  # camera index 2
    np.testing.assert_array_equal(arrays[1][:, 0, 0], np.arange(0, 10, 2) * 10 + 0)
    assert len(report) == 1 and "S1/Walking 1" in report[0] and "truncated" in report[0]
    # without num_frames the last row frame bounds the check: frame 8 needs 9 detections, 10 are there
    _, report = align_positions_2d(pos, [
        {k: v for k, v in clips[1].items() if k != "num_frames"}])
    assert len(report) == 1 and "rows need 9" in report[0]


@pytest.mark.parametrize("clip, match", [
    ({"subject": "S5", "action": "Walking", "subaction": "1"}, "S5"),
    ({"subject": "S1", "action": "Eating", "subaction": "1"}, "Eating 1"),
    ({"subject": "S9", "action": "Walking", "subaction": "1", "num_frames": 9}, "8 frames"),
    ({"subject": "S1", "action": "Walking", "subaction": "1", "camera": "123"}, "123"),
])
def test_mismatch_errors(npz, clip, match):
    base = {"camera": "54138969", "length": 3, "frame": np.arange(3)}
    with pytest.raises(InputError, match=match):
        align_positions_2d(load_positions_2d(npz), [{**base, **clip}])


def test_bad_files(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, other=np.zeros(3))
    with pytest.raises(InputError, match="positions_2d"):
        load_positions_2d(p)
    p.write_text("not a zip")
    with pytest.raises(InputError, match="x.npz"):
        load_positions_2d(p)
