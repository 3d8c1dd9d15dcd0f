"""On-disk layout: a fresh store's chunk and shard files are flat (`c.i.0.0.0`, no nested chunk directories),
joint features are sharded one row per inner chunk (read one row at a time), and a store written with zarr's
nested "/" keys (stores made before) reads identically (row reader and zarr) and passes `pipeline check`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import zarr

import storage.layout
from pipeline.joint_features import derive_joint_features
from storage.audit import check_store, store_info
from storage.compact import compact
from storage.reader import ROW_FIELDS, Reader
from storage.rowread import RowArrays
from tests.conftest import SMALL_LEVELS, build_store

MAPS = ("s4", "s8", "s16", "s32")


def _arrays(root: Path) -> dict[str, dict]:
    """{array path relative to the store: its zarr.json} of every array below `root`."""
    out = {}
    for meta in root.rglob("zarr.json"):
        m = json.loads(meta.read_text())
        if m["node_type"] == "array":
            out[str(meta.parent.relative_to(root))] = m
    return out


def _store(path: Path) -> Path:
    build_store(path)
    derive_joint_features(str(path), "hrnet32")
    return path


def test_fresh_store_is_flat_and_joint_features_are_sharded_per_row(tmp_path: Path) -> None:
    path = _store(tmp_path / "s.zarr")
    arrays = _arrays(path)
    assert len(arrays) == 9 + 6 + 1 + 3 + 4 + 2  # rows/*, clips/* (with fps), cameras, kp2d/score/status, maps, joints
    for name, meta in arrays.items():
        d = path / name
        assert meta["chunk_key_encoding"] == {"name": "default", "configuration": {"separator": "."}}, name
        assert [p.name for p in d.iterdir() if p.is_dir()] == [], name  # no nested chunk directories
        files = sorted(p.name for p in d.iterdir() if p.name != "zarr.json")
        tail = r"\.0" * (len(meta["shape"]) - 1)
        assert files and all(re.fullmatch(rf"c\.\d+{tail}", f) for f in files), (name, files)
    # 29 rows in 4 shards of 8 rows (clips start shard-aligned at rows 0, 16, 24)
    for lv in MAPS:
        assert sorted(p.name for p in (path / f"h36m/backbones/hrnet32/{lv}").glob("c*")) == \
            ["c.0.0.0.0", "c.1.0.0.0", "c.2.0.0.0", "c.3.0.0.0"]
    feat = zarr.open_group(str(path), mode="r")["h36m/backbones/hrnet32/joints/feat"]
    dim = sum(c for c, _, _ in SMALL_LEVELS.values())
    assert feat.chunks == (1, 17, dim) and feat.shards == (8, 17, dim)
    rows = np.array([27, 0, 5, 16, 5, 20])
    np.testing.assert_array_equal(Reader(path, joint_features=True).read(rows, joint_features=True)
                                  ["joint_features"], feat.oindex[rows])


def test_nested_layout_store_reads_identically_and_passes_check(tmp_path: Path, monkeypatch) -> None:
    new = _store(tmp_path / "new.zarr")
    with monkeypatch.context() as m:  # the layout stores had before: zarr's default "/" separator
        m.setattr(storage.layout, "CHUNK_KEY_ENCODING", {"name": "default", "separator": "/"})
        old = _store(tmp_path / "old.zarr")
    assert (old / "h36m/backbones/hrnet32/s4/c/3/0/0/0").is_file()
    assert (old / "h36m/backbones/hrnet32/joints/feat/c/3/0/0").is_file()
    assert (old / "h36m/rows/valid/c/0").is_file()

    rows = np.array([28, 0, 9, 16, 16, 3])
    want = Reader(new, joint_features=True).read(rows, fields=ROW_FIELDS, maps=True, joint_features=True)
    got = Reader(old, joint_features=True).read(rows, fields=ROW_FIELDS, maps=True, joint_features=True)
    assert want.keys() == got.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    g_old = zarr.open_group(str(old), mode="r")
    for name in ("h36m/rows/pose3d_cam", "h36m/backbones/hrnet32/s8", "h36m/backbones/hrnet32/joints/feat"):
        np.testing.assert_array_equal(RowArrays(old).take(name, rows), g_old[name].oindex[rows], err_msg=name)

    assert check_store(old) == [] and check_store(old, deep=True) == []
    info_old, info_new = store_info(old)["datasets"]["h36m"], store_info(new)["datasets"]["h36m"]
    assert [a["files"] for a in info_old["arrays"]] == [a["files"] for a in info_new["arrays"]]
    compact(old, "hrnet32", "zstd3", name="flat")  # a group added to an old store is flat; both read and check
    assert (old / "h36m/backbones/flat/s4/c.3.0.0.0").is_file() and (old / "h36m/backbones/hrnet32/s4/c/3").is_dir()
    np.testing.assert_array_equal(Reader(old, backbone="flat").read(rows, maps=True)["s4"], want["s4"])
    assert check_store(old) == []
    (old / "h36m/backbones/hrnet32/kp2d/c/2/0/0").unlink()  # rows 16..23: clip 1
    assert check_store(old) == [f"{old}/h36m/backbones/hrnet32/kp2d/c/2/0/0: missing chunk of "
                                f"h36m/backbones/hrnet32/kp2d for clip 1 (S1/Eating 2/54138969) marked done"]


def test_other_chunk_key_encodings_name_files_as_zarr_does(tmp_path: Path) -> None:
    """The row reader takes file names from the metadata's encoding, whatever it is (here zarr v2-style keys)."""
    encoding = {"name": "v2", "configuration": {"separator": "."}}
    g = zarr.open_group(str(tmp_path / "x.zarr"), mode="w")
    a = g.create_array("a", shape=(10, 3), chunks=(1, 3), shards=(5, 3), dtype="f2", chunk_key_encoding=encoding)
    a[:] = np.arange(30, dtype=np.float16).reshape(10, 3)
    assert sorted(p.name for p in (tmp_path / "x.zarr/a").iterdir()) == ["0.0", "1.0", "zarr.json"]
    rows = np.array([9, 0, 4, 5])
    np.testing.assert_array_equal(RowArrays(tmp_path / "x.zarr").take("a", rows), a.oindex[rows])
