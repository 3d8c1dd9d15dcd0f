"""Temporal lifters: windows (edge padding, whole-window flips), strided and capf-s shapes and overfitting, the
train -> evaluate CLI with --frames, dry-run, and bad input (window too long, MuCo, no joint features)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from lifters.data import LiftingData, check_windows, to_torch
from lifters.flip import flip_pose_3d, flip_screen_2d
from lifters.models.capf_s import ContextAwarePoseFormerS
from lifters.models.strided import PAPER_STRIDES, StridedTransformer, default_strides
from pipeline.joint_features import derive_joint_features
from schemas.errors import CacheError, InputError
from schemas.joints import JOINT_SETS
from storage.reader import Reader
from storage.store import Store
from tests.conftest import CAM, build_store, clip_rows

LONG = ((("S1", "Walking", "1"), 30), (("S1", "Eating", "2"), 12), (("S9", "Walking", "1"), 28))
TINY_STRIDED = '{"dim": 32, "hidden": 64, "heads": 4}'


@pytest.fixture(scope="module")
def long_store(tmp_path_factory) -> Path:
    """Clips of 30 / 12 (train, S1) and 28 (test, S9) rows, small maps, derived joint features."""
    path = tmp_path_factory.mktemp("temporal") / "store.zarr"
    build_store(path, lengths=LONG)
    derive_joint_features(str(path), "hrnet32")
    return path


def test_windows_edge_padding(small_store: Path):
    """Windows are centred and repeat the clip's first / last row at its ends, never crossing into a neighbour."""
    r = Reader(small_store)
    c0, c1 = r.clip_table[0], r.clip_table[1]  # 10 rows from 0, 7 rows from 16 (shard-aligned)
    w = r.windows(np.array([c0.start, c0.start + 1, c0.stop - 1, c1.start + 3]), 5)
    np.testing.assert_array_equal(w, [[0, 0, 0, 1, 2], [0, 0, 1, 2, 3], [7, 8, 9, 9, 9], [17, 18, 19, 20, 21]])
    data = LiftingData(r, np.array([c0.stop - 1]), maps=False, frames=5)
    b = data.batch([0])
    full = r.read([7, 8, 9], fields=("pose3d_cam",))
    assert b["kp2d_seq"].shape == (1, 5, 17, 2) and b["target_seq"].shape == (1, 5, 17, 3)
    np.testing.assert_array_equal(b["kp2d_seq"][0, 3], b["kp2d_seq"][0, 4])  # padded with the last frame
    np.testing.assert_array_equal(b["kp2d_seq"][0, 2], b["kp2d"][0])  # centre = the row itself
    assert b["row"][0] == 9 and b["frame"][0] == 9
    root = int(r.attrs["root_index"])
    want = (full["pose3d_cam"][1] - full["pose3d_cam"][1, root]) / 1000.0
    np.testing.assert_allclose(b["target_seq"][0, 1], want, atol=1e-6)


def test_window_flip_round_trip(long_store: Path):
    """A flipped sample flips its whole window (2D x -> -x, joints swapped; 3D likewise); flipping twice is the
    identity; joint features of flipped windows are read from joints/flip (absent here: a clear error)."""
    r = Reader(long_store)
    rows = r.rows(split="train")
    data = LiftingData(r, rows, maps=False, frames=9)
    perm = JOINT_SETS["h36m17"].flip_permutation()
    plain = data.batch([0, 5, 29], np.zeros(3, bool))
    mixed = data.batch([0, 5, 29], np.array([True, False, True]))
    for k, fn in (("kp2d_seq", flip_screen_2d), ("target_seq", flip_pose_3d)):
        np.testing.assert_array_equal(mixed[k][[0, 2]], fn(plain[k][[0, 2]], perm))
        np.testing.assert_array_equal(mixed[k][1], plain[k][1])
        np.testing.assert_array_equal(fn(mixed[k][[0, 2]], perm), plain[k][[0, 2]])
    np.testing.assert_array_equal(mixed["kp2d"], mixed["kp2d_seq"][:, 4])
    jf = LiftingData(Reader(long_store, joint_features=True), rows, maps=False, frames=9, joint_features=True)
    b = jf.batch([0, 1])
    assert b["jfeat_seq"].shape == (2, 9, 17, 60) and b["jfeat_seq"].dtype == np.float16
    np.testing.assert_array_equal(b["joint_features"], b["jfeat_seq"][:, 4])
    with pytest.raises(CacheError, match="no joint features of flipped crops"):
        jf.batch([0], np.ones(1, bool))


def test_strided_shapes_and_strides():
    assert {t: default_strides(t) for t in PAPER_STRIDES} == PAPER_STRIDES
    assert default_strides(9) == [1, 3, 3] and default_strides(1) == [1, 1, 1]
    m = StridedTransformer(frames=27, dim=32, hidden=64, heads=4).eval()
    assert [layer.stride for layer in m.ste] == [3, 3, 3]
    assert [tuple(p.shape) for p in m.ste_pos] == [(1, 27, 32), (1, 9, 32), (1, 3, 32)]
    full, centre = m(torch.randn(2, 27, 17, 2))
    assert full.shape == (2, 27, 17, 3) and centre.shape == (2, 17, 3)
    assert [layer.stride for layer in StridedTransformer(frames=243, dim=16, hidden=16, heads=2).ste] == [3, 9, 9]
    with pytest.raises(InputError, match="odd"):
        StridedTransformer(frames=26)
    with pytest.raises(InputError, match="product"):
        StridedTransformer(frames=27, strides=[3, 3])
    # the paper's size: 3.22 M parameters at T = 27
    assert 3.20e6 < sum(p.numel() for p in StridedTransformer(frames=27).parameters()) < 3.24e6


@pytest.mark.parametrize("model", ["strided", "capf-s"])
def test_tiny_temporal_model_overfits(long_store: Path, model: str, one_torch_thread):
    torch.manual_seed(0)
    r = Reader(long_store, joint_features=True)
    data = LiftingData(r, r.rows(split="train")[:8], maps=False, frames=9, joint_features=model == "capf-s")
    batch = to_torch(data.batch(np.arange(8)))
    if model == "strided":
        net = StridedTransformer(frames=9, dim=32, hidden=64, heads=4, drop=0.0)
    else:
        net = ContextAwarePoseFormerS(levels={"s4": 4, "s8": 8, "s16": 16, "s32": 32}, frames=9, dim=8, depth=1,
                                      temporal_depth=1, heads=2, drop_path=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        loss = net.loss_batch(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0], losses[::8]
    assert net.predict_batch(batch).shape == (8, 17, 3)


def test_train_strided_cli_then_evaluate(long_store: Path, tmp_path: Path, one_torch_thread):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["--recipe", "quick", "--cache", str(long_store), "--frames", "27", "--model-cfg", TINY_STRIDED,
            "--workers", "0"]
    res = runner.invoke(app, ["train", "strided", *args, "--out", str(tmp_path / "dry"), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "parameters" in res.output and "FLOPs / sample" in res.output
    res = runner.invoke(app, ["train", "strided", *args, "--out", str(out), "--max-steps", "3", "--batch-size", "16",
                              "--flip-aug"])
    assert res.exit_code == 0, res.output
    log = [json.loads(x) for x in (out / "metrics_log.jsonl").read_text().splitlines()]
    assert log[0]["config"]["frames"] == 27 and log[0]["model_cfg"]["frames"] == 27
    res = runner.invoke(app, ["evaluate", str(out), "--flip-test"])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "metrics.json").read_text())
    assert rep["frames"] == 27 and rep["rows"] == 28
    assert rep["metrics"]["MPJVE"]["pairs"] == 27 and rep["metrics"]["MPJVE"]["mean_over_frames"] > 0
    res = runner.invoke(app, ["train", "capf-s", "--recipe", "quick", "--cache", str(long_store), "--frames", "3",
                              "--out",
                              str(tmp_path / "dry2"), "--dry-run", "--model-cfg", '{"dim": 8, "heads": 2}'])
    assert res.exit_code == 0, res.output


def test_temporal_bad_input(long_store: Path, small_store: Path, tmp_path: Path):
    runner = CliRunner()

    def err(model: str, cache: Path, *extra: str) -> str:
        res = runner.invoke(app, ["train", model, "--recipe", "quick", "--cache", str(cache), "--out",
                                  str(tmp_path / model),
                                  "--model-cfg", TINY_STRIDED if model == "strided" else '{"dim": 8, "heads": 2}',
                                  "--dry-run", *extra])
        assert isinstance(res.exception, CacheError), res.output
        return str(res.exception)

    assert "longest has 30 frames" in err("strided", long_store, "--frames", "31")
    assert "odd" in err("strided", long_store, "--frames", "4")
    assert "single-frame model" in err("poseformer", long_store, "--frames", "9")
    msg = err("capf-s", small_store, "--frames", "3")
    assert "pipeline derive" in msg and "--joint-features" in msg
    # MuCo-3DHP: still images, refused for temporal models
    st = Store.create(tmp_path / "muco.zarr")
    ds = st.create_dataset("muco", "muco21", shard_rows=8)
    idx = ds.allocate([dict(subject="muco", action="composite", subaction="0", camera="0", source="x.jpg")], [4],
                      [[CAM]])
    ds.write_clip(idx[0], clip_rows(4, seed=0, num_joints=21))
    with pytest.raises(InputError, match="still images"):
        check_windows(Reader(tmp_path / "muco.zarr"), "strided", 3)
