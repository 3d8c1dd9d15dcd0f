"""Write faults: a disk-full error (OSError ENOSPC, injected at zarr's own file write or torch.save) fails the clip
or the command with one line naming the path and the cause; nothing already marked done changes. Commands run as
the console script's `main` in a subprocess with the fault injected (as root, permissions cannot stand in for it)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from schemas.arrays import DONE, PENDING
from schemas.errors import StoreError
from storage.store import Store
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


def one_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


@pytest.fixture
def full_disk(monkeypatch):
    """In this process: zarr file writes under a path containing the given text fail with ENOSPC."""
    import zarr.storage._local as local

    put = local._put

    def arm(match: str) -> None:
        def full(path, value, exclusive=False):
            if match in str(path):
                raise OSError(errno.ENOSPC, "No space left on device")
            return put(path, value, exclusive)

        monkeypatch.setattr(local, "_put", full)

    return arm


def test_extract_writes_fail_the_clip_and_leave_done_clips(tmp_path: Path, full_disk) -> None:
    path = tmp_path / "s.zarr"
    build_store(path)
    ds = Store.open(path, mode="r+").dataset("h36m")
    before = (ds.status().copy(), ds.status("hrnet32").copy())
    ds.set_status(1, PENDING, "hrnet32")
    ds.set_status(2, PENDING)  # clips 1 (maps) and 2 (rows) are to be extracted again
    full_disk("backbones/hrnet32/s8/")
    c1 = ds.clip(1)
    w = ds.backbone_writer("hrnet32", 1)
    with pytest.raises(StoreError, match=r"s.zarr/h36m/backbones/hrnet32/s8: write failed: No space left on device "
                                         r"\(ENOSPC\); free disk space"):
        w.append(backbone_batch(np.arange(c1.start, c1.stop)))
        w.close()
    full_disk("rows/pose3d_cam/")
    with pytest.raises(StoreError, match=r"h36m/rows: write failed: .*ENOSPC"):
        ds.write_clip(2, clip_rows(ds.clip(2).length, seed=2))
    assert ds.status("hrnet32").tolist() == [DONE, PENDING, DONE] and ds.status().tolist() == [DONE, DONE, PENDING]
    assert before[0][0] == DONE and before[1][0] == DONE  # clip 0 untouched throughout


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
