"""`pipeline check --repair`: the clips owning corrupt or missing chunks go back to pending, their files of that
group are removed, and rewriting them gives the bytes of a clean store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from schemas.arrays import DONE, PENDING
from storage.audit import check_store
from storage.repair import repair_store
from storage.store import Store
from tests.conftest import backbone_batch, build_store, clip_rows

SHARD = "h36m/backbones/hrnet32/s8/c.0.0.0.0"  # rows 0..7 of clip 0 (rows 0..9), shard_rows 8


def digests(path: Path) -> dict[str, str]:
    """sha256 of every data file (chunks, shards; not metadata) under the dataset."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((path / "h36m").rglob("*")) if p.is_file() and p.name != "zarr.json"}


def test_repair_resets_exactly_the_bad_clips_and_a_rewrite_is_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    build_store(path)
    clean = digests(path)
    shard = path / SHARD
    raw = bytearray(shard.read_bytes())
    raw[100:200] = b"\x00" * 100  # 100 bytes overwritten inside the shard's data
    shard.write_bytes(bytes(raw))
    (path / "h36m/rows/pose3d_cam/c.2.0.0").unlink()  # clip 1's rows (16..23) lose a chunk file
    assert len(check_store(path)) == 2
    lines, others = repair_store(path)
    assert others == []
    assert lines == ["h36m clip 0 (S1/Walking 1/54138969): backbone hrnet32 marked pending, 12 chunk file(s) removed",
                     "h36m clip 1 (S1/Eating 2/54138969): rows marked pending, 8 chunk file(s) removed"]
    ds = Store.open(path).dataset("h36m")
    assert ds.status("hrnet32").tolist() == [PENDING, DONE, DONE] and ds.status().tolist() == [DONE, PENDING, DONE]
    assert check_store(path) == [] and repair_store(path) == ([], [])  # nothing left marked done that is bad
    assert not shard.exists()
    ds = Store.open(path, mode="r+").dataset("h36m")  # what `pipeline extract` does for the pending clips
    c0, c1 = ds.clip(0), ds.clip(1)
    w = ds.backbone_writer("hrnet32", 0)
    for b in range(0, c0.length, 3):
        w.append(backbone_batch(np.arange(c0.start + b, min(c0.start + b + 3, c0.stop))))
    w.close()
    ds.write_clip(1, clip_rows(c1.length, seed=1))
    assert digests(path) == clean
