"""Index tables at scale: clips/n_valid (valid rows per written clip) lets `Reader.rows` skip `rows/valid` for
all-valid clips (O(clips) instead of one chunk file per shard_rows rows); stores without it scan `rows/valid`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from storage.reader import Reader
from storage.store import Store
from tests.conftest import CAM, clip_rows

LENGTHS = (10, 7, 5)  # shard_rows 8: clips start at rows 0, 16, 24
INVALID = (2, 5)  # clip 1: these local rows are not valid (3DHP-test-like)


def _store(path: Path) -> Store:
    store = Store.create(path)
    ds = store.create_dataset("h36m", "h36m17", shard_rows=8)
    metas = [dict(subject=s, action="Walking", subaction="1", camera=CAM.id, source="") for s in ("S1", "S5", "S9")]
    for ci in ds.allocate(metas, LENGTHS, [[CAM]] * 3):
        rows = clip_rows(LENGTHS[ci], seed=ci)
        if ci == 1:
            rows["valid"][list(INVALID)] = False
        ds.write_clip(ci, rows)
    return store


def _expected() -> np.ndarray:
    starts = (0, 16, 24)
    rows = [np.arange(s, s + n) for s, n in zip(starts, LENGTHS, strict=True)]
    rows[1] = np.delete(rows[1], INVALID)
    return np.concatenate(rows)


def test_counts_recorded_and_rows_filtered(tmp_path: Path) -> None:
    _store(tmp_path / "s.zarr")
    r = Reader(tmp_path / "s.zarr")
    assert r.clip_valid_counts.tolist() == [10, 5, 5]
    assert r.rows().tolist() == _expected().tolist()
    assert len(r.rows(valid_only=False)) == sum(LENGTHS)
    assert r.rows(split="train").tolist() == [x for x in _expected().tolist() if x < 24]  # S1, S5
    assert r.rows(stride=2).tolist() == [0, 2, 4, 6, 8, 16, 20, 22, 24, 26, 28]  # stride first, then validity


def test_all_valid_clips_need_no_valid_chunks(tmp_path: Path) -> None:
    """With the counts, the all-valid clips' rows/valid chunk files are never read: removing them changes
    nothing (a scan would read them as fill = False and drop the rows)."""
    path = tmp_path / "s.zarr"
    _store(path)
    (path / "h36m/rows/valid/c.0").unlink()  # rows 0..7 of clip 0
    assert Reader(path).rows().tolist() == _expected().tolist()
    shutil.rmtree(path / "h36m/clips/n_valid")  # a store from before clips/n_valid: the scan sees the hole
    old = Reader(path)
    assert old.clip_valid_counts is None
    assert old.rows().tolist() == [x for x in _expected().tolist() if x >= 8]


def test_store_without_counts_reads_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    _store(path)
    shutil.rmtree(path / "h36m/clips/n_valid")
    r = Reader(path)
    assert r.clip_valid_counts is None and r.rows().tolist() == _expected().tolist()
    ds = Store.open(path, mode="r+").dataset("h36m")  # resuming such a store: allocate/write_clip skip the array
    (ci,) = ds.allocate([dict(subject="S11", action="Eating", subaction="1", camera=CAM.id, source="")], [3],
                        [[CAM]])
    ds.write_clip(ci, clip_rows(3, seed=7))
    assert Reader(path).rows().tolist() == [*_expected().tolist(), 32, 33, 34]
