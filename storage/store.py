"""Create, open, allocate, write and resume a ctxpose cache store (Zarr v3 on disk).

Layout (see README "Store layout"):
  <store>/                      attrs: schema, schema_version, created, tool_version
    <dataset>/                  attrs: joint_set, root_index, fps, source_root, shard_rows, frame_stride
      clips/                    attrs: table (subject/action/subaction/camera/source lists);
                                arrays start, length, camera_offset (C,) int64 · status (C,) int8, chunk 1 ·
                                n_valid (C,) int64, chunk 1: valid rows of each written clip (-1: not written;
                                optional, added in 0.1.0 without a schema version change: stores without it
                                are read by scanning rows/valid)
      cameras/params            (K, 23) float64 — schemas.camera.Camera.to_vector rows
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
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from schemas.arrays import (
    BACKBONE_ROW_ARRAYS,
    DONE,
    FAILED,
    IMPORT_ROW_ARRAYS,
    MAP_DTYPE,
    OPTIONAL_ROW_ARRAYS,
    PENDING,
    ROW_ARRAYS,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    ArraySpec,
    level_spec,
)
from schemas.camera import Camera
from schemas.errors import StoreError
from schemas.joints import JOINT_SETS
from storage.codecs import DEFAULT_MAP_CODEC, compressors
from storage.encodings import QPARAMS_SUFFIX, group_encoding, parse_encoding
from storage.fastread import FastArray
from storage.layout import new_array

# Write every chunk a writer touches, even all-fill ones, so "a done clip has all its chunk files" is an
# exact check (storage/audit.py) and a row of zeros is distinguishable from a row never written.
zarr.config.set({"array.write_empty_chunks": True})

TOOL_VERSION = "0.1.0"
DEFAULT_SHARD_ROWS = 64
CLIP_STR_COLUMNS = ("subject", "action", "subaction", "camera", "source")
CAMERA_VECTOR_LEN = 23


def _small_codecs() -> list:
    return [ZstdCodec(level=3)]


@dataclass(frozen=True)
class ClipRow:
    """One clip of the clip table."""

    index: int
    subject: str
    action: str
    subaction: str
    camera: str
    source: str
    start: int
    length: int
    status: int

    @property
    def stop(self) -> int:
        return self.start + self.length


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

    def create_dataset(self, name: str, joint_set: str, fps: float = 50.0, source_root: str = "",
                       shard_rows: int = DEFAULT_SHARD_ROWS, frame_stride: int = 1,
                       attrs: dict | None = None, optional_rows: tuple[str, ...] = ()) -> DatasetGroup:
        """Add a dataset group (or return the existing one if its joint set and shard size agree), with the
        named OPTIONAL_ROW_ARRAYS beside the ROW_ARRAYS (a dataset created without them stays without)."""
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
        g = self.group.create_group(name)
        g.attrs.update({"joint_set": joint_set, "num_joints": js.num_joints, "root_index": js.root,
                        "fps": fps, "source_root": str(source_root), "shard_rows": int(shard_rows),
                        "frame_stride": int(frame_stride), **(attrs or {})})
        clips = g.create_group("clips")
        clips.attrs["table"] = {c: [] for c in CLIP_STR_COLUMNS}
        for col in ("start", "length", "camera_offset"):
            new_array(clips, col, shape=(0,), chunks=(4096,), dtype="int64", fill_value=0)
        new_array(clips, "status", shape=(0,), chunks=(1,), dtype="int8", fill_value=PENDING)
        new_array(clips, "n_valid", shape=(0,), chunks=(1,), dtype="int64", fill_value=-1)
        new_array(g.create_group("cameras"), "params", shape=(0, CAMERA_VECTOR_LEN), chunks=(4096, CAMERA_VECTOR_LEN),
              dtype="float64", fill_value=0.0)
        rows = g.create_group("rows")
        for spec in (*ROW_ARRAYS.values(), *(OPTIONAL_ROW_ARRAYS[k] for k in optional_rows)):
            _create_row_array(rows, spec, js.num_joints, 0, shard_rows)
        g.create_group("backbones")
        g.create_group("imports")
        return DatasetGroup(self, name)

    def consolidate(self) -> None:
        """Consolidate metadata (once, at the end of a run) for fast opens."""
        with warnings.catch_warnings():  # v3 consolidated metadata is not yet in the spec; we know
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(self.path))


def _read_all(root: Path, arr: zarr.Array) -> np.ndarray:
    """arr[:] via the fast reader where it handles the layout: per-clip arrays (status) have one tiny chunk file
    per clip, which zarr reads at a few hundred per second (~840 clips for full H36M)."""
    fast = FastArray.open(root, arr.path)
    return fast.read(np.arange(arr.shape[0])) if fast is not None else arr[:]


def _fill(dtype: str):
    return False if dtype == "bool" else (-1 if dtype.startswith("int") else 0)


def _create_row_array(group: zarr.Group, spec: ArraySpec, num_joints: int, n_rows: int, shard_rows: int,
                      name: str | None = None) -> zarr.Array:
    shape = spec.row_shape(num_joints)
    return new_array(group, name or spec.name, shape=(n_rows, *shape), chunks=(shard_rows, *shape),
                     dtype=spec.dtype, fill_value=_fill(spec.dtype), compressors=_small_codecs(),
                     attributes={"unit": spec.unit, "meaning": spec.meaning})


class DatasetGroup:
    """One dataset in a store: clip allocation, clip writes, status and resume."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        self.group: zarr.Group = store.group[name]

    # ---------- metadata ----------
    @property
    def attrs(self) -> dict:
        return dict(self.group.attrs)

    @property
    def num_joints(self) -> int:
        return int(self.group.attrs["num_joints"])

    @property
    def shard_rows(self) -> int:
        return int(self.group.attrs["shard_rows"])

    @property
    def n_rows(self) -> int:
        return int(self.group["rows/clip"].shape[0])

    def where(self, array: str = "") -> str:
        return f"{self.store.path}/{self.name}" + (f"/{array}" if array else "")

    def clips(self) -> list[ClipRow]:
        c = self.group["clips"]
        table = c.attrs["table"]
        start, length, status = c["start"][:], c["length"][:], _read_all(self.store.path, c["status"])
        return [ClipRow(i, *(table[k][i] for k in CLIP_STR_COLUMNS), int(start[i]), int(length[i]), int(status[i]))
                for i in range(len(start))]

    def clip(self, index: int) -> ClipRow:
        n = self.group["clips/start"].shape[0]
        if not 0 <= index < n:
            raise StoreError(f"{self.where('clips')}: clip {index} out of range (0..{n - 1})")
        c = self.group["clips"]
        table = c.attrs["table"]
        return ClipRow(index, *(table[k][index] for k in CLIP_STR_COLUMNS), int(c["start"][index]),
                       int(c["length"][index]), int(c["status"][index]))

    @staticmethod
    def _clip_index(table: dict) -> dict[tuple[str, ...], int]:
        """{(subject, action, subaction, camera): clip index} of the clip table."""
        return {tuple(row): i for i, row in enumerate(zip(*(table[k] for k in _KEY_COLUMNS), strict=True))}

    def backbones(self) -> list[str]:
        return sorted(k for k, _ in self.group["backbones"].groups())

    def imports(self) -> list[str]:
        return sorted(k for k, _ in self.group["imports"].groups())

    def cameras(self) -> np.ndarray:
        """(K, 23) float64 camera vectors; rows/camera indexes into it."""
        return self.group["cameras/params"][:]

    # ---------- allocation ----------
    def allocate(self, metas: list[dict], lengths: Iterable[int], cameras: list[list[Camera]]) -> list[int]:
        """Append clips with shard-aligned row ranges; returns their clip indices.

        metas: dicts with subject, action, subaction, camera, source · lengths: rows per clip ·
        cameras: per clip, the Camera list its rows index into. Clips already present (same
        subject/action/subaction/camera) are not added again: their existing index is returned.
        """
        lengths = [int(x) for x in lengths]
        if not (len(metas) == len(lengths) == len(cameras)):
            raise StoreError("allocate: metas, lengths and cameras must have one entry per clip")
        c = self.group["clips"]
        table = {k: list(v) for k, v in c.attrs["table"].items()}
        s = self.shard_rows
        n_rows, n_clips = self.n_rows, c["start"].shape[0]
        n_cams = self.group["cameras/params"].shape[0]
        index, have_len = self._clip_index(table), c["length"][:]  # one read each, not one per clip
        out, new_start, new_len, new_off, new_cams = [], [], [], [], []
        for meta, length, cams in zip(metas, lengths, cameras, strict=True):
            existing = index.get(_meta_key(meta))
            if existing is not None:
                old = int(have_len[existing]) if existing < n_clips else new_len[existing - n_clips]
                if old != length:
                    raise StoreError(f"{self.where()}: clip {_key(meta)} exists with {old} rows, the raw data "
                                     f"now has {length}; use a new --store")
                out.append(existing)
                continue
            if length <= 0:
                raise StoreError(f"{self.where()}: clip {_key(meta)} has no rows")
            index[_meta_key(meta)] = n_clips + len(new_start)
            out.append(n_clips + len(new_start))
            for k in CLIP_STR_COLUMNS:
                table[k].append(str(meta.get(k, "")))
            new_start.append(n_rows)
            new_len.append(length)
            new_off.append(n_cams)
            new_cams.extend(cam.to_vector() for cam in cams)
            n_cams += len(cams)
            n_rows += -(-length // s) * s  # round up to whole shards
        if not new_start:
            return out
        m = n_clips + len(new_start)
        for col, vals in (("start", new_start), ("length", new_len), ("camera_offset", new_off)):
            c[col].resize((m,))
            c[col][n_clips:] = np.asarray(vals, dtype=np.int64)
        c["status"].resize((m,))
        if "n_valid" in c:
            c["n_valid"].resize((m,))
        cam_arr = self.group["cameras/params"]
        k0 = cam_arr.shape[0]
        cam_arr.resize((n_cams, CAMERA_VECTOR_LEN))
        if new_cams:
            cam_arr[k0:] = np.stack(new_cams)
        self._resize_rows(n_rows)
        c.attrs["table"] = table
        return out

    def _row_arrays(self) -> list[zarr.Array]:
        arrays = [a for _, a in self.group["rows"].arrays()]
        for sub in ("backbones", "imports"):
            for _, g in self.group[sub].groups():
                arrays += [a for name, a in g.arrays() if name != "status"]
                for sub_group in ("flip", "joints", "joints/flip"):
                    if sub_group in g:
                        arrays += [a for name, a in g[sub_group].arrays() if name != "status"]
        return arrays

    def _resize_rows(self, n_rows: int) -> None:
        for a in self._row_arrays():
            a.resize((n_rows, *a.shape[1:]))
        for _, g in self.group["backbones"].groups():
            g["status"].resize((self.group["clips/start"].shape[0],))
            if "joints" in g:
                g["joints/status"].resize((self.group["clips/start"].shape[0],))

    # ---------- status ----------
    def status(self, backbone: str | None = None) -> np.ndarray:
        """(C,) int8 status per clip (PENDING/DONE/FAILED) of the rows or of a backbone group."""
        arr = self.group["clips/status"] if backbone is None else self._backbone(backbone)["status"]
        return _read_all(self.store.path, arr)

    def pending(self, backbone: str | None = None) -> list[int]:
        """Clip indices not yet DONE (rows, or rows + this backbone's outputs)."""
        st = self.status()
        if backbone is not None:
            st = np.where(self.status(backbone) == DONE, st, PENDING)
        return [int(i) for i in np.flatnonzero(st != DONE)]

    def set_status(self, clip_index: int, value: int, backbone: str | None = None) -> None:
        arr = self.group["clips/status"] if backbone is None else self._backbone(backbone)["status"]
        arr[clip_index] = value

    def mark_failed(self, clip_index: int, backbone: str | None = None) -> None:
        self.set_status(clip_index, FAILED, backbone)

    # ---------- writing ----------
    def write_clip(self, clip_index: int, rows: dict[str, np.ndarray]) -> None:
        """Write all ROW_ARRAYS (and the optional ones the dataset was created with) of one clip as one unit, then
        mark its rows DONE. Optional arrays the dataset lacks are dropped (a store made before they existed).

        Every array must have exactly the clip's row count and the spec's shape; all are validated
        before anything is written, so a bad call changes nothing on disk. `clip` is filled in here.
        `camera` holds clip-local camera indices (into the clip's camera list) and is offset here.
        """
        clip = self.clip(clip_index)
        rows = dict(rows)
        rows["clip"] = np.full(clip.length, clip_index, dtype=np.int32)
        specs = {**ROW_ARRAYS, **{k: v for k, v in OPTIONAL_ROW_ARRAYS.items() if k in self.group["rows"]}}
        rows = {k: v for k, v in rows.items() if k in ROW_ARRAYS or k in specs or k not in OPTIONAL_ROW_ARRAYS}
        missing = sorted(set(specs) - set(rows))
        if missing:
            raise StoreError(f"{self.where('rows')}: write of clip {clip_index} lacks arrays {missing}")
        extra = sorted(set(rows) - set(specs))
        if extra:
            raise StoreError(f"{self.where('rows')}: unknown row arrays {extra}; known: {sorted(specs)}")
        self._validate(specs, rows, clip, "rows")
        offset = int(self.group["clips/camera_offset"][clip_index])
        rows["camera"] = np.asarray(rows["camera"], dtype=np.int64) + offset
        sel = slice(clip.start, clip.stop)
        for name, arr in rows.items():
            self.group["rows"][name][sel] = np.asarray(arr, dtype=specs[name].dtype)
        if "n_valid" in self.group["clips"]:  # the clip's own chunk: as safe for concurrent writers as status
            self.group["clips/n_valid"][clip_index] = int(np.asarray(rows["valid"], dtype=bool).sum())
        self.set_status(clip_index, DONE)

    def _validate(self, specs: dict[str, ArraySpec], arrays: dict[str, np.ndarray], clip: ClipRow,
                  where: str) -> None:
        counts = {k: int(np.shape(v)[0]) for k, v in arrays.items()}
        if len(set(counts.values())) > 1 or any(n != clip.length for n in counts.values()):
            raise StoreError(f"{self.where(where)}: clip {clip.index} has {clip.length} rows but the arrays "
                             f"disagree: {counts}; nothing was written")
        for name, arr in arrays.items():
            try:
                specs[name].check(np.asarray(arr), self.num_joints, clip.length, self.where(where))
            except ValueError as e:
                raise StoreError(f"{e}; nothing was written") from None

    # ---------- backbones ----------
    def _backbone(self, name: str) -> zarr.Group:
        if name not in self.backbones():
            raise StoreError(f"{self.where('backbones')}: no backbone {name!r}; the store has: "
                             f"{', '.join(self.backbones()) or 'none'}")
        return self.group["backbones"][name]

    def add_backbone(self, name: str, levels: dict[str, tuple[int, int, int]], attrs: dict | None = None,
                     codec: str | None = None, flip: bool = False) -> zarr.Group:
        """Create backbones/<name> with kp2d, kp2d_score, status and one array per level.

        codec: a map encoding name (storage.encodings.ENCODING_NAMES: lossless codecs, bitround-k, int8); level
        arrays are f16 (uint8 codes + <level>_scale_offset for int8). Feature arrays: chunk = 1 row (the read
        unit), shard = shard_rows rows (the write unit). codec None: DEFAULT_MAP_CODEC for a new group, the
        group's own encoding on resume. If the group exists with the same levels (and the encoding asked for, if
        any) it is returned (resume); otherwise an error.
        """
        enc = parse_encoding(codec or DEFAULT_MAP_CODEC)
        levels = {k: tuple(int(x) for x in v) for k, v in levels.items()}
        if name in self.backbones():
            g = self.group["backbones"][name]
            have = {k: tuple(v) for k, v in g.attrs["levels"].items()}
            if have != levels or bool(g.attrs.get("flip", False)) != flip:
                raise StoreError(f"{self.where('backbones/' + name)} exists with levels {have} "
                                 f"(flip={g.attrs.get('flip', False)}); this run has {levels} (flip={flip})")
            have_enc = group_encoding(dict(g.attrs)).name
            if codec is not None and have_enc != enc.name:
                raise StoreError(f"{self.where('backbones/' + name)} exists with map encoding {have_enc!r}; this run "
                                 f"asks for {enc.name!r}: drop --encoding to resume it as {have_enc!r}, or rewrite "
                                 f"it with `pipeline compact --encoding {enc.name}` when it is done")
            return g
        g = self.group["backbones"].create_group(name)
        g.attrs.update({**(attrs or {}), "levels": {k: list(v) for k, v in levels.items()}, **enc.attrs(),
                        "flip": flip, "map_dtype": MAP_DTYPE})
        n, s, j = self.n_rows, self.shard_rows, self.num_joints
        for spec in BACKBONE_ROW_ARRAYS.values():
            _create_row_array(g, spec, j, n, s)
        n_clips = self.group["clips/start"].shape[0]
        new_array(g, "status", shape=(n_clips,), chunks=(1,), dtype="int8", fill_value=PENDING)
        comp = compressors(enc.codec, typesize=np.dtype(enc.stored_dtype).itemsize)
        targets = [g] + ([g.create_group("flip")] if flip else [])
        for tgt in targets:
            for lvl, (ch, h, w) in levels.items():
                spec = level_spec(lvl, ch, h, w)
                new_array(tgt, lvl, shape=(n, ch, h, w), chunks=(1, ch, h, w), shards=(s, ch, h, w),
                          dtype=enc.stored_dtype, fill_value=0, compressors=comp,
                          attributes={"unit": spec.unit, "meaning": spec.meaning, "encoding": enc.name})
                if enc.kind == "int8":
                    new_array(tgt, lvl + QPARAMS_SUFFIX, shape=(n, ch, 2), chunks=(1, ch, 2), shards=(s, ch, 2),
                              dtype="float32", fill_value=0, compressors=_small_codecs(),  # read per row
                              attributes={"unit": "activation", "meaning": f"int8 (scale, offset) per "
                                          f"channel of {lvl}: value = code * scale + offset"})
        return g

    def add_joint_features(self, backbone: str, keypoints: str) -> zarr.Group:
        """Create (or return, on resume) backbones/<backbone>/joints: feat (N, J, D) float16 with D = sum of the
        level channels in map order, chunk = 1 row (the read unit), shard = shard_rows rows (the write unit), the
        backbone's lossless codec; status (C,) int8 per clip; flip/feat when the backbone has flipped maps.
        attrs: levels {name: channels}, dim D, keypoints (the 2D source the maps were sampled at). StoreError if
        it exists sampled at another 2D source."""
        g = self._backbone(backbone)
        if "joints" in g:
            j = g["joints"]
            if j.attrs.get("keypoints") != keypoints:
                raise StoreError(f"{self.where('backbones/' + backbone + '/joints')} exists, sampled at "
                                 f"{j.attrs.get('keypoints')!r} 2D; this run asks for {keypoints!r}")
            return j
        levels = {k: int(v[0]) for k, v in g.attrs["levels"].items()}
        dim = sum(levels.values())
        j = g.create_group("joints")
        j.attrs.update({"levels": levels, "dim": dim, "keypoints": keypoints, "dtype": MAP_DTYPE})
        n, s, nj = self.n_rows, self.shard_rows, self.num_joints
        comp = compressors(group_encoding(dict(g.attrs)).codec, typesize=2)
        for tgt in [j] + ([j.create_group("flip")] if g.attrs.get("flip", False) else []):
            new_array(tgt, "feat", shape=(n, nj, dim), chunks=(1, nj, dim), shards=(s, nj, dim), dtype=MAP_DTYPE,
                      fill_value=0, compressors=comp, attributes={"unit": "activation",
                                                                  "meaning": "maps sampled at the 2D joints"})
        n_clips = self.group["clips/start"].shape[0]
        new_array(j, "status", shape=(n_clips,), chunks=(1,), dtype="int8", fill_value=PENDING)
        return j

    def backbone_writer(self, name: str, clip_index: int) -> ClipWriter:
        """A streaming writer for one clip's backbone outputs (buffers whole shards)."""
        return ClipWriter(self, name, clip_index)

    def add_import(self, name: str, kp2d: np.ndarray, meta: dict | None = None) -> None:
        """Store an imported 2D source imports/<name>/kp2d (N, J, 2) px aligned to all rows."""
        want = (self.n_rows, self.num_joints, 2)
        if kp2d.shape != want:
            raise StoreError(f"{self.where('imports/' + name)}: kp2d has shape {kp2d.shape}, expected {want}")
        grp = self.group["imports"]
        if name in self.imports():
            del grp[name]
        g = grp.create_group(name)
        g.attrs.update(meta or {})
        a = _create_row_array(g, IMPORT_ROW_ARRAYS["kp2d"], self.num_joints, self.n_rows, self.shard_rows)
        a[:] = kp2d.astype(np.float32)


_KEY_COLUMNS = ("subject", "action", "subaction", "camera")


def _meta_key(meta: dict) -> tuple[str, ...]:
    return tuple(str(meta.get(k, "")) for k in _KEY_COLUMNS)


def _key(meta: dict) -> str:
    return f"{meta.get('subject')}/{meta.get('action')} {meta.get('subaction')}/{meta.get('camera')}"


class ClipWriter:
    """Streams one clip's backbone rows (kp2d, kp2d_score, levels, flip/levels) into shard-sized writes.

    `append(batch)` takes dicts of (B, ...) arrays in row order; `close()` checks the row count,
    writes the remainder and only then flips the backbone status of the clip to DONE.
    """

    def __init__(self, ds: DatasetGroup, backbone: str, clip_index: int) -> None:
        self.ds, self.clip = ds, ds.clip(clip_index)
        self.g = ds._backbone(backbone)
        self.name = backbone
        self.levels = list(self.g.attrs["levels"])
        self.flip = bool(self.g.attrs.get("flip", False))
        self.names = list(BACKBONE_ROW_ARRAYS) + self.levels + ([f"flip/{lv}" for lv in self.levels] if self.flip
                                                                 else [])
        self.buf: dict[str, list[np.ndarray]] = {k: [] for k in self.names}
        self.buffered = 0
        self.written = 0
        self.shard = ds.shard_rows
        self.encoding = group_encoding(dict(self.g.attrs))

    def append(self, batch: dict[str, np.ndarray]) -> None:
        missing = sorted(set(self.names) - set(batch))
        if missing:
            raise StoreError(f"{self.ds.where('backbones/' + self.name)}: batch lacks {missing}")
        counts = {k: len(batch[k]) for k in self.names}
        if len(set(counts.values())) != 1:
            raise StoreError(f"{self.ds.where('backbones/' + self.name)}: batch arrays disagree in rows: {counts}")
        n = next(iter(counts.values()))
        if self.written + self.buffered + n > self.clip.length:
            raise StoreError(f"{self.ds.where('backbones/' + self.name)}: clip {self.clip.index} has "
                             f"{self.clip.length} rows, got more")
        for k in self.names:
            self.buf[k].append(np.asarray(batch[k]))
        self.buffered += n
        while self.buffered >= self.shard:
            self._flush(self.shard)

    def _flush(self, n: int) -> None:
        start = self.clip.start + self.written
        for k in self.names:
            data = np.concatenate(self.buf[k]) if len(self.buf[k]) > 1 else self.buf[k][0]
            parts = self.encoding.encode(data[:n]) if k.rsplit("/", 1)[-1] in self.levels else {"": data[:n]}
            for suffix, part in parts.items():
                self.g[k + suffix][start:start + n] = part
            self.buf[k] = [data[n:]] if len(data) > n else []
        self.buffered -= n
        self.written += n

    def close(self) -> None:
        """Write what is buffered; mark the clip DONE for this backbone only if every row arrived."""
        if self.buffered:
            self._flush(self.buffered)
        if self.written != self.clip.length:
            raise StoreError(f"{self.ds.where('backbones/' + self.name)}: clip {self.clip.index} got "
                             f"{self.written} of {self.clip.length} rows; not marked done")
        self.ds.set_status(self.clip.index, DONE, self.name)
