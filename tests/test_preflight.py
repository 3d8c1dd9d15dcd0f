"""Validate before starting anything: `pipeline extract` with bad input fails in seconds with one line, before any
Prefect server (PREFECT_API_URL points at a dead port: reaching it would fail differently), Dask cluster or store,
and leaves nothing behind (no store, no lock file)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from prefect_server import cli_env, extract_args, free_port, run_cli

pytestmark = pytest.mark.e2e  # the installed console script in a subprocess (bad input before any server)

DEAD_API = f"http://127.0.0.1:{free_port()}/api"


def _fails_fast(tmp_path: Path, root: Path, *extra: str) -> str:
    store = tmp_path / "out" / "s.zarr"
    store.parent.mkdir(exist_ok=True)
    run = run_cli(extract_args(root, store, *extra), cli_env(DEAD_API))
    assert run.rc == 1, run.out
    assert "Traceback" not in run.out and "does not answer" not in run.out, run.out
    errors = [line for line in run.out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.out
    assert run.seconds < 45, run.seconds  # was 37-70 s (server, cluster and backbone first)
    assert list(store.parent.iterdir()) == [], list(store.parent.iterdir())  # no store, no lock file
    return errors[0]


def test_empty_root_and_another_layout_fail_before_anything_starts(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    err = _fails_fast(tmp_path, empty)
    assert f"--root {empty}: no h36m clips found: nothing under it matches the h36m layout" in err, err
    other = tmp_path / "3dhp"
    (other / "S1" / "Seq1").mkdir(parents=True)
    err = _fails_fast(tmp_path, other)
    assert f"{other / 'S1' / 'Videos'}: no Videos folder" in err, err


@pytest.mark.parametrize("kind", ["garbage", "foreign"])
def test_bad_checkpoint_fails_before_anything_starts(kind: str, h36m_raw: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / f"{kind}.pth"
    if kind == "garbage":
        ckpt.write_bytes(b"\x00not a checkpoint" * 100)
    else:  # an mmpose-style checkpoint of another network
        torch.save({"state_dict": {"backbone.conv1.weight": torch.zeros(8, 3, 3, 3),
                                   "head.final_layer.weight": torch.zeros(17, 8, 1, 1)}}, ckpt)
    err = _fails_fast(tmp_path, h36m_raw, "--checkpoint", str(ckpt))
    assert f"--checkpoint {ckpt}" in err, err
    assert ("not a torch checkpoint" in err) if kind == "garbage" else ("does not fit backbone 'hrnet32'" in err), err


def test_store_of_another_kind_fails_before_anything_starts(h36m_raw: Path, tmp_path: Path) -> None:
    store = tmp_path / "out" / "s.zarr"
    store.mkdir(parents=True)
    (store / "notes.txt").write_text("my files")
    run = run_cli(extract_args(h36m_raw, store), cli_env(DEAD_API))
    assert run.rc == 1 and "is not empty and is not a ctxpose store" in run.out, run.out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s.zarr"]  # no lock file left
    assert [p.name for p in store.iterdir()] == ["notes.txt"]
    shutil.rmtree(store)
    from tests.conftest import build_store

    build_store(store)  # an h36m store with frame_stride 1
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    run = run_cli(extract_args(h36m_raw, store, "--frame-stride", "2"), cli_env(DEAD_API))
    assert run.rc == 1 and f"--store {store}/h36m has frame_stride=1, this run asks for 2" in run.out, run.out
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before


@pytest.mark.parametrize(("extra", "needle"), [(("--checkpoint", "/nope.pth"), "--checkpoint /nope.pth does not exist"),
                                               (("--box", "detector"), "--box 'detector'"),
                                               (("--device", "tpu"), "--device"),
                                               (("--video-decode", "vaapi"), "--video-decode 'vaapi' is unknown"),
                                               pytest.param(("--video-decode", "cuda"),
                                                            "--video-decode cuda needs an NVIDIA GPU",
                                                            marks=pytest.mark.skipif(torch.cuda.is_available(),
                                                                                     reason="a GPU is present"))])
def test_bad_option_values_are_usage_errors(extra: tuple[str, ...], needle: str, h36m_raw: Path,
                                            tmp_path: Path) -> None:
    run = run_cli(extract_args(h36m_raw, tmp_path / "s.zarr", *extra), cli_env(DEAD_API))
    assert run.rc == 2 and "Traceback" not in run.out, run.out
    errors = [line for line in run.out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], run.out
    assert list(tmp_path.iterdir()) == []
