"""Create, open, allocate, write and resume a ctxpose cache store (Zarr v3 on disk).

Layout (see README "Store layout"):
  <store>/                      attrs: schema, schema_version, created, tool_version
    <dataset>/                  attrs: joint_set, root_index, fps, source_root, shard_rows, frame_stride
      clips/                    attrs: table (subject/action/subaction/camera/source lists);
                                arrays start, length, camera_offset (C,) int64 · status (C,) int8, chunk 1 ·
                                n_valid (C,) int64, chunk 1: valid rows of each written clip (-1: not written;
                                optional, added in 0.1.0 without a schema version change: stores without it
                                are read by scanning rows/valid) · fps (C,) float64: each clip's source frame
                                rate (NaN: its files carry none; optional, older stores lack it)
      cameras/params            (K, 23) float64 — schemas.camera.Camera.to_vector rows (CAMERA_VECTOR_FIELDS)
      rows/<name>               per-row arrays of schemas.arrays.ROW_ARRAYS, chunk = shard_rows rows
      backbones/<name>/         attrs: backbone config, checkpoint sha256, levels, encoding + codec (storage/encodings)
        status (C,) int8 · kp2d, kp2d_score · s4..s32 (N, C, H, W) f16, chunk 1 row, shard shard_rows rows
        joints/feat (N, J, D) f16 maps sampled at the 2D joints (CA-PF-S), chunk 1 row, shard shard_rows rows ·
        joints/status (C,) · joints/flip/feat
        (int8 encoding: s4..s32 uint8 codes + s4_scale_offset.. (N, C, 2) float32)
      imports/<name>/kp2d       imported 2D source, (N, J, 2) float32 px
Chunk and shard files are flat in each array's directory (`c.<i>.0.0.0`, storage/layout.py); stores written
before with zarr's nested `c/<i>/0/0/0` keys read unchanged (the encoding is in each array's metadata).

Clips own shard-aligned row ranges, so one writer per clip never shares a chunk or shard with another:
no locks, and a killed run leaves only whole clips marked done (status flips after the data is written).

The dataset group's operations live in one module per idea: storage/dataset.py (metadata, clip table),
storage/allocation.py, storage/status.py, storage/writes.py (validated writes, ClipWriter) and storage/groups.py
(dataset, backbone, joint-feature and import groups); `DatasetGroup` composes them.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from pathlib import Path

import zarr

from schemas.arrays import SCHEMA_NAME, SCHEMA_VERSION
from schemas.errors import StoreError
from schemas.joints import JOINT_SETS
from storage.allocation import Allocation
from storage.dataset import CLIP_STR_COLUMNS, ClipRow
from storage.groups import GroupCreation, create_dataset_group
from storage.writes import ClipWriter, ValidatedWrites

__all__ = ["CLIP_STR_COLUMNS", "DEFAULT_SHARD_ROWS", "TOOL_VERSION", "ClipRow", "ClipWriter",
           "DatasetGroup", "Store"]

# Write every chunk a writer touches, even all-fill ones, so "a done clip has all its chunk files" is an
# exact check (storage/audit.py) and a row of zeros is distinguishable from a row never written.
zarr.config.set({"array.write_empty_chunks": True})

TOOL_VERSION = "0.1.0"
DEFAULT_SHARD_ROWS = 64


class DatasetGroup(Allocation, ValidatedWrites, GroupCreation):
    """One dataset in a store: clip allocation, clip writes, status and resume, sub-group creation."""


class Store:
    """A ctxpose cache store on disk. Use `Store.create` or `Store.open`; never construct directly."""

    def __init__(self, path: Path, group: zarr.Group) -> None:
        self.path = path
        self.group = group

    @classmethod
    def create(cls, path: str | Path, exist_ok: bool = True) -> Store:
        """Create a new store at `path` (or open it read-write if it is already a store and `exist_ok`)."""
        path = Path(path)
        if path.exists() and path.is_file():
            raise StoreError(f"{path} is a file, not a store directory; choose another --store path")
        if (path / "zarr.json").exists():
            if not exist_ok:
                raise StoreError(f"{path} already holds a store")
            return cls.open(path, mode="r+")
        if path.exists() and any(p.name != ".lock" for p in path.iterdir()):
            raise StoreError(f"{path} exists, is not empty and is not a ctxpose store; choose an empty or new path")
        group = zarr.open_group(str(path), mode="w", zarr_format=3)
        group.attrs.update({"schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION,
                            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                            "tool_version": TOOL_VERSION})
        return cls(path, group)

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> Store:
        """Open an existing store; checks that it is a ctxpose store of this schema version."""
        path = Path(path)
        if not path.exists():
            raise StoreError(f"{path} does not exist; create a store with `pipeline extract --store {path}`")
        if path.is_file():
            raise StoreError(f"{path} is a file, not a store directory")
        if not (path / "zarr.json").exists():
            raise StoreError(f"{path} is not a Zarr store (no zarr.json); is this the right --store/--cache path?")
        try:
            group = zarr.open_group(str(path), mode=mode, zarr_format=3, use_consolidated=False)
        except Exception as e:  # noqa: BLE001 - zarr raises many types for broken metadata
            raise StoreError(f"{path}: cannot open as a Zarr v3 group ({e})") from None
        attrs = dict(group.attrs)
        if attrs.get("schema") != SCHEMA_NAME:
            raise StoreError(f"{path} is a Zarr store but not a {SCHEMA_NAME} store (schema={attrs.get('schema')!r})")
        version = attrs.get("schema_version")
        if version != SCHEMA_VERSION:
            hint = "upgrade ctxpose-cache" if isinstance(version, int) and version > SCHEMA_VERSION else \
                "re-extract it with this version"
            raise StoreError(f"{path}: store schema version {version}, this tool reads version {SCHEMA_VERSION}; "
                             f"{hint}")
        return cls(path, group)

    @property
    def attrs(self) -> dict:
        return dict(self.group.attrs)

    def datasets(self) -> list[str]:
        return sorted(k for k, v in self.group.groups() if "joint_set" in v.attrs)

    def dataset(self, name: str) -> DatasetGroup:
        if name not in self.datasets():
            raise StoreError(f"{self.path}: no dataset {name!r} in the store; it has: "
                             f"{', '.join(self.datasets()) or 'none'}")
        return DatasetGroup(self, name)

    def create_dataset(self, name: str, joint_set: str, fps: float | None = 50.0, source_root: str = "",
                       shard_rows: int = DEFAULT_SHARD_ROWS, frame_stride: int = 1,
                       attrs: dict | None = None, optional_rows: tuple[str, ...] = ()) -> DatasetGroup:
        """Add a dataset group (or return the existing one if its joint set and shard size agree).

        fps: the dataset's nominal frame rate (frames/s; None for stills); each clip's own is `clips/fps`.
        optional_rows: OPTIONAL_ROW_ARRAYS created beside the ROW_ARRAYS (a dataset created without stays without)."""
        if joint_set not in JOINT_SETS:
            raise StoreError(f"unknown joint set {joint_set!r}; known: {', '.join(JOINT_SETS)}")
        if name in self.datasets():
            ds = DatasetGroup(self, name)
            for key, want in (("joint_set", joint_set), ("shard_rows", shard_rows), ("frame_stride", frame_stride)):
                if ds.attrs[key] != want:
                    raise StoreError(f"{self.path}/{name}: existing dataset has {key}={ds.attrs[key]!r}, "
                                     f"this run asks for {want!r}; use another --store")
            return ds
        js = JOINT_SETS[joint_set]
        create_dataset_group(self.group, name, {
            "joint_set": joint_set, "num_joints": js.num_joints, "root_index": js.root, "fps": fps,
            "source_root": str(source_root), "shard_rows": int(shard_rows), "frame_stride": int(frame_stride),
            **(attrs or {})}, optional_rows)
        return DatasetGroup(self, name)

    def consolidate(self) -> None:
        """Consolidate metadata (once, at the end of a run) for fast opens."""
        with warnings.catch_warnings():  # v3 consolidated metadata is not yet in the spec; we know
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(self.path))
