"""`pipeline compact`: rewrite a backbone group in another encoding; equivalence, refusals, interruption, resume."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from schemas.arrays import DONE, PENDING
from schemas.errors import InputError, StoreError
from storage.audit import check_store
from storage.compact import compact
from storage.reader import Reader
from tests._cli import run_cli
from tests._lifter_store import real_store
from tests.test_encodings import encoded_store


def tree_digest(path: Path) -> dict[str, str]:
    """{relative file: sha256} of every file below `path` (a group is byte-identical iff the digests are)."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def all_rows(r: Reader, flip: bool) -> dict[str, np.ndarray]:
    rows = np.concatenate([np.arange(c.start, c.stop) for c in r.ready_clips()])
    return {k: v for k, v in r.read(rows, fields=(), maps=True, flip=flip).items() if k != "camera"}


@pytest.mark.e2e  # the installed console script in a subprocess
def test_lossless_compact_of_a_real_store_reads_byte_equal(tmp_path_factory, tmp_path):
    path = tmp_path / "store.zarr"
    shutil.copytree(real_store(tmp_path_factory), path)  # real HRNet-W32 maps + flipped maps, 16 rows
    before = tree_digest(path / "h36m/backbones/hrnet32")
    r = run_cli("compact", str(path), "--backbone", "hrnet32", "--encoding", "zstd3")
    assert r.returncode == 0, r.stderr
    assert "wrote h36m/backbones/hrnet32-zstd3 (zstd3) from hrnet32" in r.stdout
    src = Reader(path, backbone="hrnet32", keypoints="hrnet32")
    dst = Reader(path, backbone="hrnet32-zstd3", keypoints="hrnet32-zstd3")
    np.testing.assert_array_equal(src.ds.status("hrnet32"), dst.ds.status("hrnet32-zstd3"))
    for flip in (False, True):
        a, b = all_rows(src, flip), all_rows(dst, flip)
        assert sorted(a) == sorted(b) and len(a["s4"]) == 16
        for k in a:
            assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k
    assert tree_digest(path / "h36m/backbones/hrnet32") == before
    g = zarr.open_group(str(path), mode="r")["h36m/backbones/hrnet32-zstd3"]
    assert g.attrs["compacted_from"] == "hrnet32" and g.attrs["encoding"] == "zstd3" and g.attrs["flip"]
    assert g.attrs["checkpoint_sha256"] == zarr.open_group(str(path), mode="r")[
        "h36m/backbones/hrnet32"].attrs["checkpoint_sha256"]
    r = run_cli("info", str(path))
    assert "hrnet32-zstd3" in r.stdout and "compacted from hrnet32" in r.stdout
    assert check_store(path) == []


@pytest.mark.parametrize("encoding", ["bitround-3", "int8"])
def test_lossy_compact_within_bounds_and_checked(tmp_path, encoding):
    path, _ = encoded_store(tmp_path / "s.zarr", "blosc-zstd5")
    out = compact(path, "hrnet32", encoding, name="small")
    assert (out["target"], out["clips_written"], out["rows_written"], out["resumed"]) == ("small", 3, 22, False)
    src, dst = Reader(path, backbone="hrnet32"), Reader(path, backbone="small")
    for flip in (False, True):
        a, b = all_rows(src, flip), all_rows(dst, flip)
        for lv in src.levels:
            x, y = a[lv].astype(np.float64), b[lv].astype(np.float64)
            if encoding == "int8":
                rng = (x.max(axis=(2, 3)) - x.min(axis=(2, 3)))[:, :, None, None] / 255
                assert np.all(np.abs(x - y) <= rng / 2 * 1.0001 + np.abs(x) * 2.0**-11 + 1e-7)
            else:
                assert np.all(np.abs(x - y) <= 2.0**-4 * np.maximum(np.abs(x), 2.0**-14))
    assert check_store(path) == []
    if encoding == "int8":  # check knows the scale/offset arrays of an int8 group
        (path / "h36m/backbones/small/flip/s8_scale_offset/c.0.0.0").unlink()
        assert check_store(path) == [f"{path}/h36m/backbones/small/flip/s8_scale_offset/c.0.0.0: missing chunk of "
                                     f"h36m/backbones/small/flip/s8_scale_offset for clip 0 (S1/Walking 1/54138969) "
                                     f"marked done"]


@pytest.mark.e2e  # the installed console script in a subprocess
def test_bad_inputs_refused_with_clear_errors(tmp_path):
    path, _ = encoded_store(tmp_path / "s.zarr", "zstd3")
    r = run_cli("compact", str(path), "--backbone", "hrnet32", "--encoding", "int4")
    assert r.returncode == 1 and "unknown encoding 'int4'; choose one of: none, zstd1" in r.stderr
    assert "bitround-9, int8" in r.stderr
    with pytest.raises(StoreError, match=r"no backbone 'hrnet48'; the store has: hrnet32"):
        compact(path, "hrnet48", "int8")
    with pytest.raises(InputError, match=r"--name 'hrnet32' is the source group itself"):
        compact(path, "hrnet32", "int8", name="hrnet32", overwrite=True)
    compact(path, "hrnet32", "int8", name="q")
    digest = tree_digest(path / "h36m/backbones/q")
    r = run_cli("compact", str(path), "--backbone", "hrnet32", "--encoding", "bitround-2", "--name", "q")
    assert r.returncode == 1 and "backbones/q already exists" in r.stderr and "pass --overwrite" in r.stderr
    assert tree_digest(path / "h36m/backbones/q") == digest  # refused: untouched
    with pytest.raises(InputError, match=r"already exists \(a finished compact of 'hrnet32' in int8\)"):
        compact(path, "hrnet32", "int8", name="q")  # done already: a rerun is refused too, not redone
    out = compact(path, "hrnet32", "bitround-2", name="q", overwrite=True)
    assert out["clips_written"] == 3
    g = zarr.open_group(str(path), mode="r")["h36m/backbones/q"]
    assert g.attrs["encoding"] == "bitround-2" and "s4_scale_offset" not in g and str(g["s4"].dtype) == "float16"


def test_interrupted_compact_leaves_source_untouched_and_resumes(tmp_path):
    path, _ = encoded_store(tmp_path / "s.zarr", "zstd3")
    src_group = path / "h36m/backbones/hrnet32"
    last = Reader(path).clip_table[-1]  # rows 24..28: the 4th shard (8 rows per shard)
    shard = src_group / f"flip/s16/c.{last.start // 8}.0.0.0"
    good = shard.read_bytes()
    shard.write_bytes(good[:40])  # a real failing input: the last clip's flipped s16 shard is truncated
    before = tree_digest(src_group)
    with pytest.raises(StoreError, match=r"flip/s16/c\.3\.0\.0\.0: cannot read rows of s16"):
        compact(path, "hrnet32", "int8")
    assert tree_digest(src_group) == before
    st = zarr.open_group(str(path), mode="r")["h36m/backbones/hrnet32-int8/status"][:]
    assert st.tolist() == [DONE, DONE, PENDING]  # the clip that failed is not marked done
    assert [c.index for c in Reader(path, backbone="hrnet32-int8").ready_clips()] == [0, 1]
    shard.write_bytes(good)
    out = compact(path, "hrnet32", "int8")  # a rerun resumes: only the unfinished clip is written
    assert (out["resumed"], out["clips_written"], out["rows_written"], out["clips_done"]) == (True, 1, 5, 3)
    a, b = all_rows(Reader(path, backbone="hrnet32"), True), all_rows(Reader(path, backbone="hrnet32-int8"), True)
    assert np.abs(a["s16"].astype(np.float32) - b["s16"]).max() < 0.05 * np.abs(a["s16"]).max()
    assert check_store(path) == []


@pytest.mark.e2e  # the installed console script in a subprocess
def test_killed_compact_subprocess_resumes(tmp_path):
    """SIGKILL a real `pipeline compact` once it has finished a clip, then rerun it."""
    path, _ = encoded_store(tmp_path / "s.zarr", "zstd3")
    before = tree_digest(path / "h36m/backbones/hrnet32")
    status = path / "h36m/backbones/hrnet32-bitround-2/status"
    proc = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; import storage.store as s; orig = s.ClipWriter.close\n"
        "def slow(self):\n    orig(self); time.sleep(60)\n"  # stall after each clip so the kill lands mid-run
        "s.ClipWriter.close = slow\nfrom cli.main import main; sys.argv = ['pipeline', *sys.argv[1:]]; main()"),
        "compact", str(path), "--backbone", "hrnet32", "--encoding", "bitround-2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if status.exists() and any(p.name.startswith("c") for p in status.iterdir()):  # a chunk: c.0 or c/
                break
            if proc.poll() is not None:
                break
            __import__("time").sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    st = zarr.open_group(str(path), mode="r")["h36m/backbones/hrnet32-bitround-2/status"][:]
    assert st.tolist() == [DONE, PENDING, PENDING]
    assert tree_digest(path / "h36m/backbones/hrnet32") == before
    r = run_cli("compact", str(path), "--backbone", "hrnet32", "--encoding", "bitround-2")
    assert r.returncode == 0 and "resumed" in r.stdout and "2 clips" in r.stdout
