"""lifters.data: batch values (normalisation, crop->map reference points, targets), flip augmentation, the batch
sampler, loader workers, split rows and the bad-input errors of opening a store for a lifter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lifters.data import LiftingData, open_reader, split_rows
from lifters.loader import BatchKeys, make_loader
from schemas.camera import camera_field
from schemas.errors import StoreError
from schemas.joints import H36M_17
from storage.reader import Reader
from tests._lifter_store import real_store
from tests.conftest import build_store


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return real_store(tmp_path_factory)


def _expected_ref(kp_px: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Independent per-joint loop: image px -> crop px by the 2x3 affine -> / [96, 128] - 1."""
    out = np.zeros_like(kp_px, dtype=np.float64)
    for n in range(len(kp_px)):
        for j in range(kp_px.shape[1]):
            u, v = affine[n] @ np.array([kp_px[n, j, 0], kp_px[n, j, 1], 1.0])
            out[n, j] = (u / 96.0 - 1.0, v / 128.0 - 1.0)
    return out


def test_batch_values_match_the_store(store):
    r = Reader(store)
    rows = r.rows(split="train")
    data = LiftingData(r, rows, maps=True)
    b = data.batch([0, 3, 5])
    raw = r.read(rows[[0, 3, 5]], maps=True)
    assert b["row"].tolist() == rows[[0, 3, 5]].tolist()
    w, h = camera_field(raw["camera"], "width"), camera_field(raw["camera"], "height")
    assert set(w) == {1000.0} and set(h) <= {1000.0, 1002.0}
    kp = raw["kp2d_gt"].astype(np.float64)
    want_kp = kp / w[:, None, None] * 2 - np.stack([np.ones_like(h), h / w], -1)[:, None, :]
    np.testing.assert_allclose(b["kp2d"], want_kp, rtol=1e-6, atol=1e-6)
    pose = raw["pose3d_cam"].astype(np.float64)
    np.testing.assert_allclose(b["target"], (pose - pose[:, :1]) / 1000.0, atol=1e-6)
    assert (b["target"][:, 0] == 0).all() and b["target"].dtype == np.float32
    np.testing.assert_allclose(b["ref"], _expected_ref(kp, raw["affine"].astype(np.float64)), atol=1e-5)
    assert np.abs(b["ref"]).max() < 1.0  # the GT-root box holds the whole body
    for lv in ("s4", "s8", "s16", "s32"):
        assert b["maps"][lv].dtype == np.float16
        np.testing.assert_array_equal(b["maps"][lv], raw[lv])
    assert not b["flip"].any()
    t = data[(np.array([0, 1]), np.array([False, False]))]
    assert isinstance(t["kp2d"], torch.Tensor) and t["maps"]["s8"].shape == (2, 64, 32, 24)


def test_flip_mirrors_2d_crop_3d_and_uses_the_stored_flipped_maps(store):
    r = Reader(store)
    rows = r.rows(split="test")
    data = LiftingData(r, rows, maps=True)
    perm = H36M_17.flip_permutation()
    pos = np.arange(len(rows))
    a, f = data.batch(pos), data.batch(pos, np.ones(len(rows), bool))
    np.testing.assert_allclose(f["kp2d"][..., 0], -a["kp2d"][:, perm, 0], atol=1e-6)
    np.testing.assert_allclose(f["kp2d"][..., 1], a["kp2d"][:, perm, 1], atol=1e-6)
    # in crop px: u -> 191 - u (the flipped crop is torch.flip of the 192-wide crop), v unchanged
    ua, uf = (a["ref"][..., 0] + 1) * 96, (f["ref"][..., 0] + 1) * 96
    np.testing.assert_allclose(uf, 191 - ua[:, perm], atol=1e-3)
    np.testing.assert_allclose(f["ref"][..., 1], a["ref"][:, perm, 1], atol=1e-6)
    np.testing.assert_allclose(f["target"][..., 0], -a["target"][:, perm, 0], atol=1e-7)
    np.testing.assert_allclose(f["target"][..., 1:], a["target"][:, perm, 1:], atol=1e-7)
    flipped_maps = r.read(rows, maps=True, flip=True)
    for lv in ("s4", "s32"):
        np.testing.assert_array_equal(f["maps"][lv], flipped_maps[lv])
        assert not np.array_equal(f["maps"][lv], a["maps"][lv])
    # a mixed batch is row by row the plain or the flipped batch
    mask = np.array([True, False] * (len(rows) // 2))
    m = data.batch(pos, mask)
    for k in ("kp2d", "ref", "target"):
        np.testing.assert_array_equal(m[k], np.where(mask[:, None, None], f[k], a[k]))
    for lv in ("s8", "s16"):
        np.testing.assert_array_equal(m["maps"][lv], np.where(mask[:, None, None, None], f["maps"][lv],
                                                              a["maps"][lv]))


def test_flip_refused_without_flipped_maps(tmp_path):
    build_store(tmp_path / "s.zarr")
    r = Reader(tmp_path / "s.zarr")
    data = LiftingData(r, r.rows(), maps=True)
    with pytest.raises(StoreError, match=r"backbones/hrnet32: --flip-aug needs the maps of flipped crops.*--flip"):
        data.check_flip("--flip-aug")
    with pytest.raises(StoreError, match="flipped crops"):
        data.batch([0, 1], np.array([True, False]))
    # 2D-only lifters flip without maps
    b = LiftingData(r, r.rows(), maps=False).batch([0], np.array([True]))
    assert b["flip"].all() and "maps" not in b


def test_batch_keys_epochs_resume_offsets_and_flip_rates():
    k = BatchKeys(10, 4, shuffle=True, seed=3, flip_p=0.5)
    assert len(k) == 3 and k.batches_per_epoch == 3
    e0 = list(k)
    assert [len(p) for p, _ in e0] == [4, 4, 2]
    assert sorted(np.concatenate([p for p, _ in e0]).tolist()) == list(range(10))
    again = list(k)
    assert all(np.array_equal(p, q) and np.array_equal(f, g) for (p, f), (q, g) in zip(e0, again, strict=True))
    k.set_epoch(1)
    e1 = list(k)
    assert not all(np.array_equal(p, q) for (p, _), (q, _) in zip(e0, e1, strict=True))
    k.set_epoch(1, start=1)
    tail = list(k)
    assert len(k) == 2 and all(np.array_equal(p, q) for (p, _), (q, _) in zip(e1[1:], tail, strict=True))
    k.set_epoch(0, start=2, steps=4)  # one pass across epoch boundaries
    span = list(k)
    assert len(k) == 4 and len(span) == 4
    for (p, f), (q, g) in zip(span, [e0[2], *e1], strict=True):
        assert np.array_equal(p, q) and np.array_equal(f, g)
    big = BatchKeys(4000, 4000, seed=0, flip_p=0.5)
    frac = next(iter(big))[1].mean()
    assert 0.45 < frac < 0.55
    assert next(iter(BatchKeys(5, 5, flip_p=1.0)))[1].all()
    seq = BatchKeys(5, 2, shuffle=False)
    assert [p.tolist() for p, _ in seq] == [[0, 1], [2, 3], [4]]


def test_loader_worker_process_reads_the_same_batches(store):
    r = Reader(store)
    r.read([0], maps=True)  # the parent has used zarr (its event-loop thread runs): workers must not fork it
    data = LiftingData(r, r.rows(split="train"), maps=True)
    keys = BatchKeys(len(data), 3, shuffle=True, seed=1, flip_p=0.5)
    one = [b for b in make_loader(data, keys, workers=0)]
    two = [b for b in make_loader(data, keys, workers=1)]
    assert len(one) == len(two) == 3
    for a, b in zip(one, two, strict=True):
        for k in ("row", "flip", "kp2d", "ref", "target"):
            assert torch.equal(a[k], b[k])
        assert torch.equal(a["maps"]["s4"], b["maps"]["s4"])


def test_split_rows_stride_and_empty_split(store, tmp_path):
    r = Reader(store)
    assert len(split_rows(r, "train")) == 8 and len(split_rows(r, "test")) == 8
    assert len(split_rows(r, "train", stride=2)) == 4  # 4 clips x 2 frames, every 2nd frame
    build_store(tmp_path / "s.zarr", lengths=((("S1", "Walking", "1"), 4),))
    with pytest.raises(StoreError, match=r"no test-split rows \(subjects S9, S11\); the store has ready clips of: S1"):
        split_rows(Reader(tmp_path / "s.zarr"), "test")


def test_open_reader_names_what_exists(store, tmp_path):
    with pytest.raises(StoreError, match=r"no backbone maps 'hrnet48'; it has: hrnet32"):
        open_reader(store, backbone="hrnet48")
    with pytest.raises(StoreError, match=r"no 2D source 'cpn'; available: gt, hrnet32"):
        open_reader(store, keypoints="cpn")
    build_store(tmp_path / "nomaps.zarr", with_maps=False)
    assert open_reader(tmp_path / "nomaps.zarr").backbone is None
    with pytest.raises(StoreError, match=r"needs backbone feature maps; backbones in the store: none"):
        open_reader(tmp_path / "nomaps.zarr", need_maps=True)


def test_detector_keypoints_as_2d_source(store):
    r = open_reader(store, keypoints="hrnet32", need_maps=True)
    rows = r.rows(split="train")[:2]
    b = LiftingData(r, rows, maps=True).batch([0, 1])
    raw = r.read(rows, fields=("affine",))
    det, w, h = raw["kp2d"].astype(np.float64), raw["camera"][:, 21, None], raw["camera"][:, 22, None]
    gt = Reader(store).read(rows)["kp2d_gt"]
    assert not np.allclose(det, gt)
    want = det / w[..., None] * 2 - np.concatenate([np.ones_like(h), h / w], -1)[:, None]
    np.testing.assert_allclose(b["kp2d"], want, atol=1e-5)
