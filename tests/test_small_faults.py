"""The small ones: info before any backbone clip is done, import-2d with a plain array, inspect on a padding row
and on a store extracted with a frame stride, compact on an unwritable target (console script, one line each)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.datasets.video import iter_video_frames
from pipeline.inspect_row import _clip_frame
from pipeline.synth.h36m import synth_h36m
from schemas.arrays import PENDING
from storage.dataset import ClipRow
from storage.store import Store
from tests._cli import PIPELINE, one_error
from tests.conftest import build_store


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PIPELINE, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"})


@pytest.mark.e2e  # the installed console script in a subprocess
def test_info_import_inspect_messages(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    build_store(path)  # clip 0: rows 0..9, padding 10..15 (shard_rows 8)
    ds = Store.open(path, mode="r+").dataset("h36m")
    for i in range(3):
        ds.set_status(i, PENDING, "hrnet32")
    r = cli("info", str(path))
    assert r.returncode == 0 and "no clip done yet" in r.stdout and "Nonex" not in r.stdout, r.stdout
    npz = tmp_path / "plain.npz"
    np.savez(npz, positions_2d=np.zeros((10, 17, 2)))
    err = one_error(cli("import-2d", "--store", str(path), "--npz", str(npz), "--name", "cpn"))
    assert f"{npz}: positions_2d is a ndarray of shape (10, 17, 2), expected a dict" in err, err
    err = one_error(cli("inspect", str(path), "--row", "12", "--out", str(tmp_path / "x.png")))
    assert "--row 12 is padding between clips" in err and "rows 0..9" in err, err
    err = one_error(cli("inspect", str(path), "--row", "99", "--out", str(tmp_path / "x.png")))
    assert "--row 99 is out of range" in err, err


def test_inspect_decodes_the_strided_frame(tmp_path: Path) -> None:
    synth_h36m(tmp_path, subjects=["S1"], actions=["Directions 1"], frames=6, cameras=["54138969"])
    clip = ClipRow(0, "S1", "Directions", "1", "54138969", "S1/Videos/Directions 1.54138969.mp4", 0, 3, 1)
    video = tmp_path / clip.source
    img = _clip_frame(tmp_path, "h36m", clip, 2, frame_stride=2)  # the clip's 3rd row: source frame 4
    np.testing.assert_array_equal(img, next(iter_video_frames(video, [4])))
