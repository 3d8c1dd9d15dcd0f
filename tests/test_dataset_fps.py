"""Frame rates in the store: the dataset's nominal rate (adapter) and each clip's own, read from its video files;
stores written before the per-clip rate existed still read and grow."""

from __future__ import annotations

from pathlib import Path

import pytest
import zarr

from flows.plan import make_plan
from flows.work import BackboneRequest
from pipeline.datasets.registry import DATASET_NAMES, get_adapter
from pipeline.synth import synth_dataset
from schemas.errors import InputError
from storage.store import Store
from tests.conftest import CAM


def test_adapters_are_one_registry():
    assert DATASET_NAMES == ("h36m", "3dhp", "muco")
    assert {n: (get_adapter(n).name, get_adapter(n).joint_set, get_adapter(n).fps) for n in DATASET_NAMES} == {
        "h36m": ("h36m", "h36m17", 50.0), "3dhp": ("3dhp", "mpi17", 25.0), "muco": ("muco", "muco21", None)}
    for call in (lambda: get_adapter("h36"), lambda: synth_dataset("h36", Path("x"))):
        with pytest.raises(InputError, match="unknown dataset 'h36'; valid names: h36m, 3dhp, muco"):
            call()


@pytest.mark.parametrize(("dataset", "subjects", "dataset_fps", "clip_fps"), [
    ("3dhp", ["S1", "TS1"], 25.0, [25.0] * 8 + [None]),  # 25 fps train videos (avi); the test jpgs carry none
    ("h36m", ["S1"], 50.0, [50.0] * 4),
])
def test_store_records_dataset_and_clip_fps(tmp_path, dataset, subjects, dataset_fps, clip_fps):
    raw, store = tmp_path / "raw", tmp_path / "s.zarr"
    synth_dataset(dataset, raw, subjects=subjects, actions=["Seq1"] if dataset == "3dhp" else ["Directions 1"],
                  frames=2, size=128 if dataset == "3dhp" else None)  # what `pipeline synth --dataset D` writes
    make_plan(dataset, raw, store, BackboneRequest("hrnet32"))
    ds = Store.open(store).dataset(dataset)
    assert ds.attrs["fps"] == dataset_fps
    assert [c.fps for c in ds.clips()] == clip_fps
    assert [ds.clip(i).fps for i in range(len(clip_fps))] == clip_fps


def test_store_without_clip_fps_reads_and_allocates(tmp_path):
    """A store from before clips/fps: rates read as None and new clips are still allocated."""
    ds = Store.create(tmp_path / "s.zarr").create_dataset("h36m", "h36m17", shard_rows=4)
    meta = dict(subject="S1", action="Walking", subaction="1", camera=CAM.id, source="")
    ds.allocate([meta], [3], [[CAM]], [50.0])
    del zarr.open_group(str(tmp_path / "s.zarr"), mode="r+")["h36m/clips/fps"]
    ds = Store.open(tmp_path / "s.zarr", mode="r+").dataset("h36m")
    assert ds.allocate([meta, {**meta, "subaction": "2"}], [3, 5], [[CAM]] * 2, [50.0, 50.0]) == [0, 1]
    assert [(c.length, c.fps) for c in ds.clips()] == [(3, None), (5, None)]
