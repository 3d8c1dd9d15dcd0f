"""Write faults fail the clip or the command with one line naming the path and the cause; nothing already marked
done changes. The extraction's row writes (tensorstore) meet REAL faults: a full disk (a 1 MiB tmpfs filled up,
mounted as root) and an immutable shard file (`chattr +i`); each is skipped with the reason where the machine cannot
make it. The paths still written by zarr-python (compact's group, import-2d, derive) and torch.save get
`OSError(ENOSPC)` injected at zarr's own file write or torch.save, through the console script's `main` in a
subprocess (as root, permissions cannot stand in for it)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from schemas.arrays import DONE, PENDING
from schemas.errors import StoreError
from storage.audit import audit_store
from storage.store import Store
from tests._cli import one_error
from tests.conftest import backbone_batch, build_store, clip_rows

INJECT = """
import errno, sys
import zarr.storage._local as local
put, match = local._put, sys.argv[1]
def full(path, value, exclusive=False):
    if match in str(path):
        raise OSError(errno.ENOSPC, "No space left on device")
    return put(path, value, exclusive)
local._put = full
import torch
save = torch.save
def full_save(obj, f, *a, **k):
    if match in str(f):
        raise OSError(errno.ENOSPC, "No space left on device")
    return save(obj, f, *a, **k)
torch.save = full_save
from cli.main import main
main(sys.argv[2:])
"""


def run_with_full_disk(match: str, *args: str) -> subprocess.CompletedProcess:
    """`pipeline ARGS` whose writes to files whose path contains `match` fail with ENOSPC."""
    return subprocess.run([sys.executable, "-c", INJECT, match, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"})


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on its own 1 MiB tmpfs (needs root and mount); unmounted afterwards."""
    d = tmp_path / "disk"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"a real disk-full needs a small tmpfs, and `mount` failed here ({r.stderr.strip()}): run as root")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=True)


def fill_up(disk: Path) -> None:
    """Write a filler file until the disk is full (ENOSPC)."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, bytes(4096))
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_extract_on_a_full_disk_fails_the_clip_and_leaves_done_clips(small_disk: Path) -> None:
    path = small_disk / "s.zarr"
    build_store(path, codec="none")
    ds = Store.open(path, mode="r+").dataset("h36m")
    ds.set_status(1, PENDING, "hrnet32")
    ds.set_status(2, PENDING)  # clips 1 (maps) and 2 (rows) are to be extracted again, on a full disk
    fill_up(small_disk)
    c1 = ds.clip(1)
    w = ds.backbone_writer("hrnet32", 1)
    with pytest.raises(StoreError, match=r"^\S+/s\.zarr/h36m/backbones/hrnet32/\w+/c\.\d+[.0]*: write failed: "
                                         r"No space left on device \(ENOSPC\); free disk space"):
        w.append(backbone_batch(np.arange(c1.start, c1.stop)))
        w.close()
    with pytest.raises(StoreError, match=r"^\S+/s\.zarr/h36m/rows/\w+/c\.\d[.0]*: write failed: No space left on "
                                         r"device \(ENOSPC\)"):
        ds.write_clip(2, clip_rows(ds.clip(2).length, seed=2))
    assert ds.status("hrnet32").tolist() == [DONE, PENDING, DONE] and ds.status().tolist() == [DONE, DONE, PENDING]
    (small_disk / "filler").unlink()
    assert not list(path.rglob("*.__lock"))  # tensorstore removed its temporary files
    assert audit_store(path) == []  # no half-written file counted as data
    ds.write_clip(2, clip_rows(ds.clip(2).length, seed=2))  # with space again the rerun lands
    assert ds.status().tolist() == [DONE, DONE, DONE]


def test_extract_over_an_immutable_shard_fails_the_clip(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    build_store(path)
    ds = Store.open(path, mode="r+").dataset("h36m")
    ds.set_status(1, PENDING, "hrnet32")
    c1 = ds.clip(1)
    shard = path / f"h36m/backbones/hrnet32/s8/c.{c1.start // ds.shard_rows}.0.0.0"  # clip 1's only shard
    before = shard.read_bytes()
    r = subprocess.run(["chattr", "+i", str(shard)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"an immutable file needs `chattr +i`, which failed here ({r.stderr.strip()})")
    try:
        w = ds.backbone_writer("hrnet32", 1)
        w.append(backbone_batch(np.arange(c1.start, c1.stop) + 1))
        with pytest.raises(StoreError, match=rf"^{shard}: write failed: Operation not permitted \(EPERM\); .*make it "
                                             r"writable, then rerun"):
            w.close()
    finally:
        subprocess.run(["chattr", "-i", str(shard)], check=True)
    assert ds.status("hrnet32").tolist() == [DONE, PENDING, DONE] and shard.read_bytes() == before
    assert not list(path.rglob("*.__lock"))


@pytest.mark.e2e  # the installed console script in a subprocess
def test_compact_on_a_full_disk_fails_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    build_store(path)
    err = one_error(run_with_full_disk("hrnet32-int8/s4/", "compact", str(path), "--backbone", "hrnet32",
                                       "--encoding", "int8"))
    assert "hrnet32-int8: write failed: No space left on device (ENOSPC)" in err, err
    ds = Store.open(path).dataset("h36m")
    assert (ds.status("hrnet32") == DONE).all() and not (ds.status("hrnet32-int8") == DONE).any()


@pytest.mark.e2e  # the installed console script in a subprocess
def test_import_2d_and_derive_on_a_full_disk_fail_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    build_store(path)
    pos = {"S1": {"Walking 1": [np.zeros((10, 17, 2))], "Eating 2": [np.zeros((7, 17, 2))]},
           "S9": {"Walking 1": [np.zeros((5, 17, 2))]}}
    npz = tmp_path / "det.npz"
    np.savez(npz, positions_2d=np.array(pos, dtype=object))
    err = one_error(run_with_full_disk("imports/cpn/kp2d/", "import-2d", "--store", str(path), "--npz", str(npz),
                                       "--name", "cpn"))
    assert "imports/cpn/kp2d: write failed: No space left on device" in err, err
    err = one_error(run_with_full_disk("joints/feat/", "derive", str(path), "--backbone", "hrnet32",
                                       "--joint-features"))
    assert "hrnet32/joints: write failed: No space left on device" in err, err
    ds = Store.open(path).dataset("h36m")
    assert (ds.status() == DONE).all() and (ds.status("hrnet32") == DONE).all()


@pytest.mark.e2e  # the installed console script in a subprocess
def test_train_checkpoint_on_a_full_disk_fails_with_one_line(tmp_path: Path) -> None:
    build_store(tmp_path / "s.zarr", with_maps=False)
    run = tmp_path / "run"
    err = one_error(run_with_full_disk("last.pt", "train", "poseformer", "--cache", str(tmp_path / "s.zarr"),
                                       "--out", str(run), "--max-steps", "1", "--workers", "0", "--keypoints", "gt",
                                       "--model-cfg",
                                       '{"dim": 16, "depth": 1, "heads": 2}'))
    assert f"{run / 'last.pt'}: cannot write the checkpoint (No space left on device)" in err, err
    assert not list(run.glob("*.tmp"))
