"""`pipeline cameras` and `pipeline synth` through Typer's CliRunner."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from cli.main import app
from schemas.errors import InputError

runner = CliRunner()
KEYS = {"subject", "camera", "f", "c", "k", "p", "R_w2c", "t_w2c", "width", "height"}


def test_cameras_h36m_json():
    r = runner.invoke(app, ["cameras", "h36m", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert len(rows) == 28 and KEYS <= set(rows[0])
    first = rows[0]
    assert (first["subject"], first["camera"], first["width"], first["height"]) == ("S1", "54138969", 1000, 1002)
    R, t = np.array(first["R_w2c"]), np.array(first["t_w2c"])
    np.testing.assert_allclose(-R.T @ t, [1841.1070556640625, 4955.28466796875, 1563.4454345703125], atol=1e-6)
    assert runner.invoke(app, ["cameras", "h36m"]).exit_code == 0


def test_synth_then_cameras_3dhp_and_muco(tmp_path):
    r = runner.invoke(app, ["synth", "--dataset", "muco", "--out", str(tmp_path / "m"), "--frames", "2",
                            "--actions", "augmented_set", "--size", "128", "--seed", "5"])
    assert r.exit_code == 0, r.output
    rows = json.loads(runner.invoke(app, ["cameras", "muco", "--root", str(tmp_path / "m"),
                                          "--format", "json"]).output)
    assert len(rows) == 2 and rows[0]["width"] == 128 and KEYS <= set(rows[0])
    r = runner.invoke(app, ["synth", "--dataset", "3dhp", "--out", str(tmp_path / "d"), "--subjects", "S2",
                            "--actions", "Seq2", "--frames", "1", "--size", "64"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "d/S2/Seq2/imageSequence").iterdir())[0] == "video_0.avi"
    rows = json.loads(runner.invoke(app, ["cameras", "3dhp", "--root", str(tmp_path / "d"),
                                          "--format", "json"]).output)
    assert [r["subject"] for r in rows[:6]] == [f"TS{i}" for i in range(1, 7)] and len(rows) == 6 + 8
    assert rows[6]["sequence"] == "Seq2" and rows[6]["width"] == 64


def test_cameras_bad_input(tmp_path):
    r = runner.invoke(app, ["cameras", "nope"])
    assert isinstance(r.exception, InputError) and "h36m, 3dhp, muco" in str(r.exception)
    r = runner.invoke(app, ["cameras", "h36m", "--root", str(tmp_path / "missing")])
    assert isinstance(r.exception, InputError) and "missing" in str(r.exception)
    r = runner.invoke(app, ["cameras", "h36m", "--format", "xml"])
    assert isinstance(r.exception, InputError)
