"""`pipeline check` at scale: feature maps are checked by their shard indices (O(files), not O(bytes)); `--deep`
decodes every row. Real stores from tests/conftest.build_store, shards edited byte-wise on disk."""

from __future__ import annotations

import subprocess
from pathlib import Path

import google_crc32c
import numpy as np

from storage.audit import check_store
from storage.shard_check import ShardIndex
from tests._cli import PIPELINE
from tests.conftest import build_store

SHARD = "h36m/backbones/hrnet32/s8/c.0.0.0.0"  # rows 0..7 of clip 0 (rows 0..9), shard_rows 8


def _index(raw: bytes, n: int = 8) -> np.ndarray:
    return np.frombuffer(raw[-(16 * n + 4):-4], dtype="<u8").reshape(n, 2).copy()


def _with_index(raw: bytes, index: np.ndarray) -> bytes:
    body = index.astype("<u8").tobytes()
    return raw[:-(16 * len(index) + 4)] + body + google_crc32c.value(body).to_bytes(4, "little")


def test_valid_store_passes_both_ways(tmp_path: Path) -> None:
    build_store(tmp_path / "s.zarr")
    assert check_store(tmp_path / "s.zarr") == [] and check_store(tmp_path / "s.zarr", deep=True) == []


def _store_with_entry(tmp_path: Path, chunk: int, entry: tuple[int, int] | None) -> Path:
    """A built store whose SHARD index has (offset, nbytes) of `chunk` replaced (None: offset = file size), with
    its crc32c recomputed: a well-formed index that lies."""
    path = tmp_path / "s.zarr"
    build_store(path)
    shard = path / SHARD
    raw = shard.read_bytes()
    idx = _index(raw)
    idx[chunk] = entry if entry is not None else (len(raw), idx[chunk, 1])
    shard.write_bytes(_with_index(raw, idx))
    return path


def test_row_never_written_is_found_from_the_index(tmp_path: Path) -> None:
    path = _store_with_entry(tmp_path, 5, (2 ** 64 - 1, 2 ** 64 - 1))  # row 5 empty
    problems = check_store(path)
    assert len(problems) == 1
    assert "hrnet32/s8: unreadable chunk for rows 0..9 (clip 0)" in problems[0]
    assert "chunk 5 (row 5) was never written" in problems[0]


def test_offset_past_the_data_is_found(tmp_path: Path) -> None:
    path = _store_with_entry(tmp_path, 2, None)  # chunk 2 starts beyond the shard's data
    ShardIndex.open(path, "h36m/backbones/hrnet32/s8").verify(8, 10)  # rows of the next shard are unaffected
    problems = check_store(path)
    assert len(problems) == 1 and "chunk 2 points past the shard data" in problems[0]


def test_corrupt_payload_needs_deep(tmp_path: Path) -> None:
    """Bytes inside a chunk, index intact: only a decode sees it; the default check (index only) passes."""
    path = tmp_path / "s.zarr"
    build_store(path)
    shard = path / SHARD
    raw = bytearray(shard.read_bytes())
    off, nb = (int(x) for x in _index(bytes(raw))[3])
    raw[off:off + nb] = b"\xff" * nb
    shard.write_bytes(bytes(raw))
    assert check_store(path) == []
    r = subprocess.run([PIPELINE, "check", str(path), "--deep"], capture_output=True,
                       text=True, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1
    err = " ".join(r.stderr.split())
    assert "1 problem(s)" in err and "hrnet32/s8: unreadable chunk for rows 0..9 (clip 0)" in err
    assert "cannot decode chunk 3" in err
