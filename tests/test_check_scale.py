"""`pipeline check` at scale: feature maps are checked by their shard indices (O(files), not O(bytes)); `--deep`
decodes every row. Real stores from tests/conftest.build_store, shards edited byte-wise on disk."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import google_crc32c
import numpy as np
import pytest

from storage.audit import check_store
from storage.rowread import RowArrays
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


def _flip(path: Path, chunk: int, value: bytes = b"\xff") -> None:
    """Overwrite the bytes of one inner chunk of SHARD (its index intact)."""
    shard = path / SHARD
    raw = bytearray(shard.read_bytes())
    off, nb = (int(x) for x in _index(bytes(raw))[chunk])
    raw[off:off + nb] = value * nb
    shard.write_bytes(bytes(raw))


@pytest.mark.e2e  # the installed console script in a subprocess
def test_corrupt_payload_is_found_by_its_checksum(tmp_path: Path) -> None:
    """Bytes inside a chunk, index intact: the chunk's crc32c finds it in the default check (no decode), naming the
    clip and the repair command; the CLI exits 1."""
    path = tmp_path / "s.zarr"
    build_store(path)
    _flip(path, 3)
    problems = check_store(path)
    assert len(problems) == 1 and "hrnet32/s8: unreadable chunk for rows 0..9 (clip 0)" in problems[0]
    assert "chunk 3 (row 3) fails its crc32c checksum" in problems[0]
    assert "row 3 of clip 0 (S1/Walking 1/54138969)" in problems[0] and "--repair" in problems[0]
    r = subprocess.run([PIPELINE, "check", str(path)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 1 and "1 problem(s)" in " ".join(r.stderr.split()), r.stderr


def test_a_flip_that_still_decodes_is_caught_on_read(tmp_path: Path, monkeypatch) -> None:
    """Uncompressed maps: a flipped byte decodes fine. With checksums the read fails naming the clip and the repair
    command; a store written before checksums (no crc32c codec) reads it silently, as it always did."""
    from schemas.errors import StoreError
    from storage import layout

    path = tmp_path / "s.zarr"
    build_store(path, codec="none")
    _flip(path, 3, b"\x01")
    s8 = "h36m/backbones/hrnet32/s8"
    with pytest.raises(StoreError, match=r"cannot read rows of s8 .*checksum.*corrupt chunk: row 0 of clip 0 "
                                         r"\(S1/Walking 1/54138969\); run `pipeline check .* --repair`"):
        RowArrays(path).take(s8, np.array([3]))
    RowArrays(path).take(s8, np.array([2, 4]))  # the other rows of the shard read
    monkeypatch.setattr(layout, "CHECKSUMS", False)
    old = tmp_path / "old.zarr"
    build_store(old, codec="none")
    _flip(old, 3, b"\x01")
    assert check_store(old) == [] and check_store(old, deep=True) == []  # silently wrong: why checksums exist
    assert RowArrays(old).take("h36m/backbones/hrnet32/s8", np.array([3])).shape == (1, 8, 8, 6)


@pytest.mark.e2e  # the installed console script in a subprocess
def test_store_without_checksums_needs_deep(tmp_path: Path, monkeypatch) -> None:
    """A store written before checksums: the default check verifies shard indexes only, `--deep` decodes."""
    from storage import layout

    monkeypatch.setattr(layout, "CHECKSUMS", False)
    path = tmp_path / "s.zarr"
    build_store(path)
    _flip(path, 3)
    assert check_store(path) == []
    r = subprocess.run([PIPELINE, "check", str(path), "--deep"], capture_output=True,
                       text=True, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1
    err = " ".join(r.stderr.split())
    assert "1 problem(s)" in err and "hrnet32/s8: unreadable chunk for rows 0..9 (clip 0)" in err
    assert "cannot read rows of s8" in err and "corrupt chunk: row 0 of clip 0" in err


def test_compact_adds_checksums_to_an_old_store(tmp_path: Path, monkeypatch) -> None:
    import json

    from storage import layout
    from storage.compact import compact

    monkeypatch.setattr(layout, "CHECKSUMS", False)
    path = tmp_path / "s.zarr"
    build_store(path)
    monkeypatch.setattr(layout, "CHECKSUMS", True)  # this version's compact writes the new group
    compact(path, "hrnet32", "zstd3", name="hrnet32-crc")

    def codecs(group: str) -> list[str]:
        meta = json.loads((path / f"h36m/backbones/{group}/s8/zarr.json").read_text())
        return [c["name"] for c in meta["codecs"][0]["configuration"]["codecs"]]

    assert codecs("hrnet32") == ["bytes", "zstd"] and codecs("hrnet32-crc") == ["bytes", "zstd", "crc32c"]
    reader, rows = RowArrays(path), np.arange(22)
    np.testing.assert_array_equal(reader.take("h36m/backbones/hrnet32/s8", rows),
                                  reader.take("h36m/backbones/hrnet32-crc/s8", rows))
    assert check_store(path) == []


def test_a_killed_writers_temporary_files_are_not_data(tmp_path: Path) -> None:
    """zarr's `.partial` and tensorstore's `.__lock` left by a kill -9 mid-write: `info` does not count them as
    stored bytes and `check` finds nothing wrong (the next write of that chunk replaces them)."""
    from storage.audit import store_info

    path = tmp_path / "s.zarr"
    build_store(path)
    before = store_info(path)["datasets"]["h36m"]["backbones"]["hrnet32"]["arrays"]
    s4 = path / "h36m/backbones/hrnet32/s4"
    (s4 / "c.0.0.0.0.5f3a.partial").write_bytes(b"\x00" * 5000)
    (s4 / "c.1.0.0.0.__lock").write_bytes(b"\x00" * 7000)
    assert store_info(path)["datasets"]["h36m"]["backbones"]["hrnet32"]["arrays"] == before
    assert check_store(path) == []
