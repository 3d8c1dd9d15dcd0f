"""Faults through the console script, against the session's real Prefect server and Dask cluster: one run with a
truncated .cdf, a video re-encoded at 320x240 and a video shorter than its mocap (each bad clip fails alone with one
line, the others land, exit 1, no traceback); corrupt a shard of a clean store, `check --repair`, rerun extract:
the data files are byte-identical to the clean run's."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from prefect_server import cli_env, extract_args, run_cli

from pipeline.datasets.video import iter_video_frames
from pipeline.synth.encode import write_video
from pipeline.synth.h36m import synth_h36m
from schemas.arrays import DONE, PENDING
from storage.store import Store
from tests._cli import PIPELINE

pytestmark = pytest.mark.e2e  # a real Prefect server and Dask cluster


def _reencode(video: Path, width: int, height: int, frames: int) -> None:
    imgs = [np.asarray(Image.fromarray(f).resize((width, height))) for f in iter_video_frames(video, range(frames))]
    write_video(video, imgs, 50, "mp4")


def test_bad_inputs_fail_their_clips_alone_with_one_line_each(prefect_server, dask_cluster, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    synth_h36m(raw, subjects=["S1"], actions=["Directions 1", "Walking 1", "Eating 1"], frames=2,
               cameras=["54138969", "55011271"])
    cdf = raw / "S1/MyPoseFeatures/D3_Positions/Walking 1.cdf"
    cdf.write_bytes(cdf.read_bytes()[:700])  # truncated: both Walking clips fail at planning
    small = raw / "S1/Videos/Directions 1.55011271.mp4"
    _reencode(small, 320, 240, 2)  # re-encoded at another size
    short = raw / "S1/Videos/Eating 1.54138969.mp4"
    _reencode(short, 1000, 1002, 1)  # 1 frame where the mocap has 2: truncated, with a note
    store, js = tmp_path / "s.zarr", tmp_path / "s.json"
    run = run_cli(extract_args(raw, store, "--dask-address", dask_cluster.address, "--retries", "0",
                               "--summary-json", str(js)), cli_env(prefect_server))
    assert run.rc == 1, run.out
    assert "Traceback" not in run.out, run.out
    s = json.loads(js.read_text())
    failed = {f["clip"]: f for f in s["failures"]}
    assert sorted(failed) == ["S1/Directions 1/55011271", "S1/Walking 1/*"], failed
    assert str(cdf) in failed["S1/Walking 1/*"]["error"] and "--actions" in failed["S1/Walking 1/*"]["error"]
    assert "320x240 px but its camera 55011271 says 1000x1000" in failed["S1/Directions 1/55011271"]["error"]
    lines = [line for line in run.out.splitlines() if line.startswith("clip failed")]
    assert len(lines) == 2 and all(str(cdf) in line or "320x240" in line for line in lines), run.out
    assert str(cdf) in run.out.split("failed clips")[-1]  # the table keeps the whole path
    assert f"truncated {short}: the mocap has 2 frames, the video 1" in run.out, run.out
    assert s["clips_done"] == 3 and s["frames"] == 2 + 2 + 1
    ds = Store.open(store).dataset("h36m")
    assert sorted(c.source for c in ds.clips() if ds.status("hrnet32")[c.index] == DONE) == [
        "S1/Videos/Directions 1.54138969.mp4", "S1/Videos/Eating 1.54138969.mp4", "S1/Videos/Eating 1.55011271.mp4"]


def _data_digests(store: Path) -> dict[str, str]:
    return {str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((store / "h36m").rglob("*")) if p.is_file() and p.name != "zarr.json"}


def test_corrupt_shard_repair_rerun_is_byte_identical(prefect_server, dask_cluster, clean_run, h36m_raw: Path,
                                                      tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    shutil.copytree(clean_run.store, store)
    clean = _data_digests(clean_run.store)
    shard = store / "h36m/backbones/hrnet32/s4/c.1.0.0.0"  # clip 1's only shard
    raw = bytearray(shard.read_bytes())
    raw[100:200] = bytes(100)  # 100 bytes overwritten inside the data
    shard.write_bytes(bytes(raw))
    env = cli_env(prefect_server)
    check = run_cli([PIPELINE, "check", str(store)], env)
    assert check.rc == 1 and "fails its crc32c checksum" in check.out and "clip 1" in check.out, check.out
    assert f"pipeline check {store} --repair" in check.out
    rep = run_cli([PIPELINE, "check", str(store), "--repair"], env)
    assert rep.rc == 0 and "h36m clip 1 (S1/Directions 1/55011271): backbone hrnet32 marked pending" in rep.out, \
        rep.out
    assert Store.open(store).dataset("h36m").status("hrnet32")[1] == PENDING
    js = tmp_path / "s.json"
    run = run_cli(extract_args(h36m_raw, store, "--dask-address", dask_cluster.address, "--summary-json", str(js)),
                  env)
    assert run.rc == 0, run.out
    s = json.loads(js.read_text())
    assert (s["clips_done"], s["frames"]) == (1, 2)  # exactly the repaired clip
    assert _data_digests(store) == clean
    assert run_cli([PIPELINE, "check", str(store)], env).rc == 0
