"""Extraction into the store on synthetic H36M, 3DHP and MuCo: GT, detections and maps per row, cross-checked
against a direct, unbatched mmpose forward of the same crop; plus `inspect` and `import-2d` on such a store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from flows.plan import make_plan
from flows.work import BackboneRequest, ExtractOptions, get_backbone, process_clip
from pipeline.crops import warp_crops
from pipeline.synth.h36m import synth_h36m
from pipeline.synth.mpi3dhp import synth_3dhp
from pipeline.synth.muco import synth_muco
from schemas.arrays import DONE
from storage.audit import check_store
from storage.reader import Reader
from storage.store import Store
from tests._cli import run_cli
from tests._mmpose_direct import direct_forward

REQ = BackboneRequest("hrnet32")
SYNTH = {
    "h36m": lambda raw: synth_h36m(raw, ["S1"], ["Directions 1"], frames=2, cameras=["54138969", "58860488"]),
    "3dhp": lambda raw: synth_3dhp(raw, ["S1", "TS1"], ["Seq1"], frames=2, cameras=[0], size=256),
    "muco": lambda raw: synth_muco(raw, ["augmented_set"], frames=2, size=256),
}


def extract(tmp: Path, dataset: str) -> tuple[Path, Path, list]:
    raw, store = tmp / f"raw-{dataset}", tmp / f"{dataset}.zarr"
    SYNTH[dataset](raw)
    plan = make_plan(dataset, raw, store, REQ, shard_rows=8, codec="blosc-zstd5")  # lossless: compared at 2e-3
    for i, clip in plan.clips:
        process_clip(str(store), dataset, i, clip, REQ, ExtractOptions(batch_size=4))
    return raw, store, plan.clips


@pytest.fixture(scope="module")
def h36m_store(tmp_path_factory) -> tuple[Path, Path]:
    raw, store, _ = extract(tmp_path_factory.mktemp("h36m"), "h36m")
    return raw, store


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
@pytest.mark.parametrize("dataset", ["h36m", "3dhp", "muco"])
def test_store_rows_match_adapter_and_direct_forward(tmp_path, dataset):
    torch.manual_seed(0)
    _, store, clips = extract(tmp_path, dataset)
    assert check_store(store) == []
    ds = Store.open(store).dataset(dataset)
    assert (ds.status() == DONE).all() and (ds.status("hrnet32") == DONE).all()
    r = Reader(store, keypoints="hrnet32")
    model = get_backbone(REQ).model
    for ci, clip in clips:
        c = ds.clip(ci)
        data = r.read(np.arange(c.start, c.stop), maps=True)
        np.testing.assert_array_equal(data["pose3d_cam"], clip.pose3d_cam.astype(np.float32))
        np.testing.assert_array_equal(data["kp2d_gt"], clip.kp2d_gt.astype(np.float32))
        np.testing.assert_array_equal(data["valid"], clip.valid)
        assert np.isfinite(data["kp2d"]).all() and data["kp2d"].shape == (c.length, ds.num_joints, 2)
        images = list(clip.frames())
        row = c.length - 1  # the last row of the clip: its own image, crop and maps
        crop = warp_crops([images[int(clip.image[row])]], data["affine"][row:row + 1])
        want, _ = direct_forward(model, crop)
        for lvl, shape in get_backbone(REQ).levels.items():
            assert data[lvl].shape[1:] == shape
            np.testing.assert_allclose(data[lvl][row].astype(np.float32), want[lvl][0].numpy(), rtol=2e-3,
                                       atol=2e-3, err_msg=f"{dataset} clip {ci} {lvl}")
    attrs = ds.group["backbones/hrnet32"].attrs
    assert attrs["random_init"] is True and attrs["channels"] == {"s4": 32, "s8": 64, "s16": 128, "s32": 256}


@pytest.mark.e2e  # the installed console script in a subprocess
def test_inspect_png(h36m_store, tmp_path):
    _, store = h36m_store
    out = tmp_path / "row.png"
    r = run_cli("inspect", str(store), "--row", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    from PIL import Image

    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[1] > 4 * img.shape[0] / 2 and img.std() > 10  # crop + 4 levels side by side, not blank


@pytest.mark.e2e  # the installed console script in a subprocess
def test_import_2d_aligns_and_reports_truncation(h36m_store, tmp_path):
    _, store = h36m_store
    r = Reader(store)
    clips = r.clip_table
    gt = r.read(np.arange(r.num_rows))["kp2d_gt"]
    cams = ["54138969", "55011271", "58860488", "60457274"]
    per_cam = [np.zeros((3, 17, 2), np.float32) for _ in cams]  # 3 frames: one more than the mocap (2)
    for c in clips:
        per_cam[cams.index(c.camera)][:2] = gt[c.start:c.stop] + 1.5
    npz = tmp_path / "cpn.npz"
    np.savez(npz, positions_2d={"S1": {"Directions 1": per_cam}}, metadata={"layout_name": "h36m"})
    res = run_cli("import-2d", "--store", str(store), "--npz", str(npz), "--name", "cpn")
    assert res.returncode == 0, res.stderr
    assert "truncated" in res.stdout
    rc = Reader(store, keypoints="cpn")
    rows = rc.rows()
    np.testing.assert_allclose(rc.read(rows)["kp2d"], gt[rows] + 1.5)
    bad = tmp_path / "bad.npz"
    np.savez(bad, positions_2d={"S9": {"Directions 1": per_cam}})
    res = run_cli("import-2d", "--store", str(store), "--npz", str(bad), "--name", "bad")
    assert res.returncode == 1 and "no subject S1 in the npz" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
def test_user_boxes_from_npz(tmp_path):
    raw, store = tmp_path / "raw", tmp_path / "s.zarr"
    synth_h36m(raw, ["S1"], ["Directions 1"], frames=2, cameras=["54138969"])
    plan = make_plan("h36m", raw, store, REQ)
    [(i, clip)] = plan.clips
    boxes = np.tile(np.float32([300, 200, 700, 800]), (clip.length, 1))
    npz = tmp_path / "boxes.npz"
    np.savez(npz, **{clip.key: boxes})
    process_clip(str(store), "h36m", i, clip, REQ, ExtractOptions(box=str(npz)))
    np.testing.assert_array_equal(Reader(store).read(np.arange(clip.length))["bbox"], boxes)
    other = tmp_path / "other.npz"
    np.savez(other, **{"S9/Walking 1/54138969": boxes})
    from flows.work import user_clip_boxes
    from schemas.errors import InputError

    with pytest.raises(InputError, match=r"no boxes for clip 'S1/Directions 1/54138969'"):
        user_clip_boxes(str(other), clip)
