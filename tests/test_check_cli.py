"""`pipeline info` / `pipeline check` on stores the tests build, incl. broken ones (real CLI process)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests._cli import run_cli as run
from tests.conftest import build_store

pytestmark = pytest.mark.e2e  # the installed console script in a subprocess


def test_info_json_lists_every_array_with_bytes_and_ratio(small_store):
    r = run("info", str(small_store), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    h = d["datasets"]["h36m"]
    assert (h["clips"], h["clips_done"], h["clips_pending"], h["rows"], h["rows_written"]) == (3, 3, 0, 32, 22)
    paths = {a["path"] for a in h["arrays"]} | {a["path"] for a in h["backbones"]["hrnet32"]["arrays"]}
    assert {"h36m/rows/pose3d_cam", "h36m/rows/kp2d_gt", "h36m/backbones/hrnet32/s4"} <= paths
    s4 = next(a for a in h["backbones"]["hrnet32"]["arrays"] if a["path"].endswith("/s4"))
    assert s4["row_shape"] == [4, 16, 12] and s4["chunks"] == [1, 4, 16, 12] and s4["shards"] == [8, 4, 16, 12]
    assert s4["stored_bytes"] > 0 and s4["raw_bytes_written_rows"] == 22 * 4 * 16 * 12 * 2
    assert s4["compression_ratio"] > 1  # constant maps compress


def test_info_table_and_check_ok(small_store):
    r = run("info", str(small_store))
    assert r.returncode == 0 and "backbones/hrnet32/s4" in r.stdout and "RANDOM INIT" in r.stdout
    r = run("check", str(small_store))
    assert r.returncode == 0 and "no problems" in r.stdout


def test_check_lists_every_problem(tmp_path):
    path = tmp_path / "s.zarr"
    build_store(path)
    shutil.rmtree(path / "h36m/rows/bbox")                       # missing array
    (path / "h36m/backbones/hrnet32/kp2d/c.0.0.0").unlink()      # done clip with a missing chunk
    shard = path / "h36m/backbones/hrnet32/s8/c.1.0.0.0"         # unreadable chunk
    shard.write_bytes(b"\x00" * 16 + shard.read_bytes()[16:-40])
    import zarr
    zarr.open_array(str(path / "h36m/rows/pose3d_cam"), mode="r+")[2, 3, 1] = float("nan")  # NaN in targets
    r = run("check", str(path))
    assert r.returncode == 1
    err = " ".join(r.stderr.split())
    assert "h36m/rows/bbox: missing array" in err
    assert "kp2d/c.0.0.0: missing chunk" in err
    assert "hrnet32/s8: unreadable chunk for rows 0..9 (clip 0)" in err
    assert "rows/pose3d_cam: 1 valid rows with NaN/inf in clip 0 (first row 2)" in err
    assert "Traceback" not in r.stderr


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    r = run("info", str(tmp_path / "nope"))
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "plain").mkdir()
    r = run("check", str(tmp_path / "plain"))
    assert r.returncode == 1 and "not a Zarr store" in r.stderr
