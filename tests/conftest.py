"""Shared fixtures: small stores built through the real storage API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from schemas.camera import Camera
from storage.store import Store

SMALL_LEVELS = {"s4": (4, 16, 12), "s8": (8, 8, 6), "s16": (16, 4, 3), "s32": (32, 2, 2)}
CAM = Camera(f=[1145.0, 1144.0], c=[512.5, 515.5], k=[-0.2, 0.24, -0.0017], p=[-0.0004, -0.001],
             R_w2c=np.eye(3), t_w2c=[0.0, 0.0, 5000.0], width=1000, height=1002, id="54138969")


def clip_rows(length: int, seed: int, num_joints: int = 17) -> dict[str, np.ndarray]:
    """Deterministic per-row arrays for one clip (all ROW_ARRAYS but `clip`)."""
    rng = np.random.default_rng(seed)
    pose = rng.normal(0, 300, (length, num_joints, 3)).astype(np.float32)
    pose[..., 2] += 5000
    return {"frame": np.arange(length, dtype=np.int32), "person": np.zeros(length, np.int32),
            "camera": np.zeros(length, np.int32), "valid": np.ones(length, bool),
            "bbox": rng.uniform(0, 1000, (length, 4)).astype(np.float32),
            "affine": rng.normal(size=(length, 2, 3)).astype(np.float32),
            "kp2d_gt": rng.uniform(0, 1000, (length, num_joints, 2)).astype(np.float32), "pose3d_cam": pose}


def backbone_batch(rows: np.ndarray, levels=SMALL_LEVELS, num_joints: int = 17) -> dict[str, np.ndarray]:
    """Backbone outputs whose values encode the global row index (for checking reads)."""
    n = len(rows)
    out = {"kp2d": np.repeat(rows[:, None, None], num_joints, 1).repeat(2, 2).astype(np.float32),
           "kp2d_score": np.full((n, num_joints), 0.5, np.float32)}
    for i, (lvl, shape) in enumerate(levels.items()):
        out[lvl] = (rows[:, None, None, None] % 1000 + i / 8 + np.zeros((n, *shape))).astype(np.float16)
    return out


def build_store(path: Path, lengths=((("S1", "Walking", "1"), 10), (("S1", "Eating", "2"), 7),
                                     (("S9", "Walking", "1"), 5)), shard_rows: int = 8, with_maps: bool = True,
                codec: str = "zstd3", frame_stride: int = 1) -> Store:
    """A small h36m store (S1 train, S9 test clips); rows keep every `frame_stride`-th source frame."""
    store = Store.create(path)
    ds = store.create_dataset("h36m", "h36m17", shard_rows=shard_rows, frame_stride=frame_stride)
    metas = [dict(subject=s, action=a, subaction=sub, camera=CAM.id, source=f"{s}/Videos/{a} {sub}.mp4")
             for (s, a, sub), _ in lengths]
    idx = ds.allocate(metas, [n for _, n in lengths], [[CAM]] * len(lengths))
    if with_maps:
        ds.add_backbone("hrnet32", SMALL_LEVELS, attrs={"random_init": True}, codec=codec)
    for ci in idx:
        c = ds.clip(ci)
        rows = clip_rows(c.length, seed=ci)
        rows["frame"] *= frame_stride
        ds.write_clip(ci, rows)
        if with_maps:
            w = ds.backbone_writer("hrnet32", ci)
            for b in range(0, c.length, 3):
                w.append(backbone_batch(np.arange(c.start + b, min(c.start + b + 3, c.stop))))
            w.close()
    return store


@pytest.fixture
def one_torch_thread():
    """The CI box is shared: one intra-op thread is faster than two contended ones for tiny ops."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def small_store(tmp_path: Path) -> Path:
    path = tmp_path / "store.zarr"
    build_store(path)
    return path


pytest_plugins = ["prefect_server"]  # tests/prefect_server.py: one real Prefect server per session (flow tests)
