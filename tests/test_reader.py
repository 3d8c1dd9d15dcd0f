"""Random-access reader: batched reads, index tables, windows, lazy per-process open, errors."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import numpy as np
import pytest

from schemas.errors import StoreError
from storage.reader import Reader
from tests.conftest import SMALL_LEVELS, build_store, clip_rows


def test_read_arbitrary_rows_in_any_order_with_repeats(small_store):
    r = Reader(small_store)
    rows = np.array([17, 0, 9, 17, 3])
    out = r.read(rows, maps=True)
    assert set(SMALL_LEVELS) <= set(out)
    for i, lvl in enumerate(SMALL_LEVELS):
        assert out[lvl].shape == (5, *SMALL_LEVELS[lvl])
        np.testing.assert_array_equal(out[lvl][:, 0, 0, 0], (rows % 1000 + i / 8).astype(np.float16))
    np.testing.assert_array_equal(out["row"], rows)
    np.testing.assert_array_equal(out["clip"], [1, 0, 0, 1, 0])
    # values match what the writer stored
    np.testing.assert_array_equal(out["pose3d_cam"][1], clip_rows(10, seed=0)["pose3d_cam"][0])
    np.testing.assert_array_equal(out["pose3d_cam"][0], clip_rows(7, seed=1)["pose3d_cam"][1])
    assert out["camera"].shape == (5, 23) and out["camera"][0, 0] == pytest.approx(1145.0)
    last = list(SMALL_LEVELS)[-1]
    one = r.read(rows, maps=True, levels=[last])  # a model reading one level (plt, cdl) gets only that one
    assert [k for k in one if k in SMALL_LEVELS] == [last]
    np.testing.assert_array_equal(one[last], out[last])
    with pytest.raises(StoreError, match=r"no map level\(s\) s64 \(levels: "):
        r.read(rows, maps=True, levels=["s64"])


def test_split_stride_and_subject_tables(small_store):
    r = Reader(small_store)
    train = r.rows(split="train")  # S1: clips of 10 and 7 rows at starts 0 and 16
    np.testing.assert_array_equal(train, np.r_[0:10, 16:23])
    np.testing.assert_array_equal(r.rows(split="test"), np.r_[24:29])
    np.testing.assert_array_equal(r.rows(subjects=["S1"], stride=5), [0, 5, 16, 21])
    np.testing.assert_array_equal(r.rows(actions=["Eating"]), np.r_[16:23])


def test_windows_are_edge_padded_within_the_clip(small_store):
    r = Reader(small_store)
    w = r.windows(np.array([0, 9, 16, 26]), 5)
    np.testing.assert_array_equal(w, [[0, 0, 0, 1, 2], [7, 8, 9, 9, 9], [16, 16, 16, 17, 18], [24, 25, 26, 27, 28]])
    long = r.windows(np.array([24]), 27)  # longer than the clip: every entry stays in clip 2
    assert long.min() == 24 and long.max() == 28


def test_two_d_sources(small_store):
    r = Reader(small_store, keypoints="hrnet32")
    out = r.read([3])
    assert out["kp2d"][0, 0, 0] == 3 and "kp2d_score" in out
    with pytest.raises(StoreError, match=r"no 2D source 'cpn'; available: gt, hrnet32"):
        Reader(small_store, keypoints="cpn")
    with pytest.raises(StoreError, match="no backbone maps 'hrnet48'; it has: hrnet32"):
        Reader(small_store, backbone="hrnet48")


def test_row_out_of_range_names_the_row(small_store):
    r = Reader(small_store)
    with pytest.raises(StoreError, match=r"row 32 out of range \(0\.\.31\)"):
        r.read([1, 32])


def test_store_without_maps(tmp_path):
    build_store(tmp_path / "s.zarr", with_maps=False)
    with pytest.raises(StoreError, match="no backbone maps in this store"):
        Reader(tmp_path / "s.zarr").read([0], maps=True)


def test_pending_clips_are_not_indexed(tmp_path):
    store = build_store(tmp_path / "s.zarr")
    store.dataset("h36m").set_status(1, 0, "hrnet32")
    rows = Reader(tmp_path / "s.zarr").rows()
    assert 16 not in rows and 0 in rows and 24 in rows
    assert store.dataset("h36m").pending() == [] and store.dataset("h36m").pending("hrnet32") == [1]


def _worker_read(reader: Reader, q) -> None:
    try:
        q.put(reader.read([3, 17], maps=True)["s8"][:, 0, 0, 0].tolist())
    except StoreError as e:
        q.put(f"StoreError: {e}")


def test_reader_pickles_without_its_handle_and_reopens_in_a_worker(small_store):
    r = Reader(small_store)
    first = r.read([3, 17], maps=True)["s8"][:, 0, 0, 0].tolist()  # zarr's and tensorstore's threads now run here
    state = pickle.loads(pickle.dumps(r))
    assert state._ds is None and state._small == {}
    for method, want in (("forkserver", first), ("fork", "StoreError")):  # a forked child: a clear error
        ctx = mp.get_context(method)
        q = ctx.Queue()
        p = ctx.Process(target=_worker_read, args=(r, q))
        p.start()
        got = q.get(timeout=120)
        p.join(timeout=60)
        assert p.exitcode == 0
        assert got == want if method == "forkserver" else got.startswith("StoreError") and "forkserver" in got


def test_corrupted_chunk_gives_a_clear_error(small_store):
    shard = small_store / "h36m/backbones/hrnet32/s4/c.0.0.0.0"
    data = bytearray(shard.read_bytes())
    data[10:200] = b"\xff" * 190  # clobber the first inner chunks' compressed bytes
    shard.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"h36m/backbones/hrnet32/s4/c\.0\.0\.0\.0: .*corrupt.*pipeline check"):
        Reader(small_store).read([0], maps=True)
