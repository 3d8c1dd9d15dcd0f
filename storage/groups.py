"""Group creation: a dataset group's layout, and its backbone, joint-feature and import sub-groups."""

from __future__ import annotations

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from schemas.arrays import (
    BACKBONE_ROW_ARRAYS,
    IMPORT_ROW_ARRAYS,
    MAP_DTYPE,
    OPTIONAL_ROW_ARRAYS,
    PENDING,
    ROW_ARRAYS,
    ArraySpec,
    level_spec,
)
from schemas.camera import CAMERA_VECTOR_LEN
from schemas.errors import StoreError
from storage.codecs import DEFAULT_MAP_CODEC, compressors
from storage.dataset import CLIP_STR_COLUMNS, DatasetBase
from storage.encodings import QPARAMS_SUFFIX, group_encoding, parse_encoding
from storage.faults import write_fault
from storage.layout import new_array


def _small_codecs() -> list:
    return [ZstdCodec(level=3)]


def _fill(dtype: str):
    return False if dtype == "bool" else (-1 if dtype.startswith("int") else 0)


def create_row_array(group: zarr.Group, spec: ArraySpec, num_joints: int, n_rows: int, shard_rows: int,
                     name: str | None = None) -> zarr.Array:
    """A per-row array of `spec`: (n_rows, *row shape), chunk = shard_rows rows, zstd."""
    shape = spec.row_shape(num_joints)
    return new_array(group, name or spec.name, shape=(n_rows, *shape), chunks=(shard_rows, *shape),
                     dtype=spec.dtype, fill_value=_fill(spec.dtype), compressors=_small_codecs(),
                     attributes={"unit": spec.unit, "meaning": spec.meaning})


def create_dataset_group(parent: zarr.Group, name: str, attrs: dict, optional_rows: tuple[str, ...] = ()
                         ) -> zarr.Group:
    """An empty dataset group `name` under `parent` with `attrs` (num_joints and shard_rows among them):
    clips/, cameras/params, rows/ (every ROW_ARRAYS array and the named OPTIONAL_ROW_ARRAYS, 0 rows), backbones/,
    imports/."""
    g = parent.create_group(name)
    g.attrs.update(attrs)
    num_joints, shard_rows = int(attrs["num_joints"]), int(attrs["shard_rows"])
    clips = g.create_group("clips")
    clips.attrs["table"] = {c: [] for c in CLIP_STR_COLUMNS}
    for col in ("start", "length", "camera_offset"):
        new_array(clips, col, shape=(0,), chunks=(4096,), dtype="int64", fill_value=0)
    new_array(clips, "status", shape=(0,), chunks=(1,), dtype="int8", fill_value=PENDING)
    new_array(clips, "n_valid", shape=(0,), chunks=(1,), dtype="int64", fill_value=-1)
    new_array(clips, "fps", shape=(0,), chunks=(4096,), dtype="float64", fill_value=float("nan"))
    new_array(g.create_group("cameras"), "params", shape=(0, CAMERA_VECTOR_LEN), chunks=(4096, CAMERA_VECTOR_LEN),
              dtype="float64", fill_value=0.0)
    rows = g.create_group("rows")
    for spec in (*ROW_ARRAYS.values(), *(OPTIONAL_ROW_ARRAYS[k] for k in optional_rows)):
        create_row_array(rows, spec, num_joints, 0, shard_rows)
    g.create_group("backbones")
    g.create_group("imports")
    return g


class GroupCreation(DatasetBase):
    """Backbone, joint-feature and import groups of a dataset, sized to its rows and clips."""

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
            create_row_array(g, spec, j, n, s)
        new_array(g, "status", shape=(self.n_clips,), chunks=(1,), dtype="int8", fill_value=PENDING)
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

    def add_joint_features(self, backbone: str, keypoints: str, replace: bool = False) -> zarr.Group:
        """Create (or return, on resume) backbones/<backbone>/joints: feat (N, J, D) float16 with D = sum of the
        level channels in map order, chunk = 1 row (the read unit), shard = shard_rows rows (the write unit), the
        backbone's lossless codec; status (C,) int8 per clip; flip/feat when the backbone has flipped maps.
        attrs: levels {name: channels}, dim D, keypoints (the 2D source the maps were sampled at). If it exists
        sampled at another 2D source: StoreError, or with `replace` it is deleted and created anew."""
        g = self._backbone(backbone)
        if "joints" in g:
            j = g["joints"]
            if j.attrs.get("keypoints") == keypoints:
                return j
            if not replace:
                raise StoreError(f"{self.where('backbones/' + backbone + '/joints')} exists, sampled at "
                                 f"{j.attrs.get('keypoints')!r} 2D; this run asks for {keypoints!r} "
                                 f"(`pipeline derive --replace` resamples)")
            del g["joints"]
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
        new_array(j, "status", shape=(self.n_clips,), chunks=(1,), dtype="int8", fill_value=PENDING)
        return j

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
        with write_fault(self.where(f"imports/{name}/kp2d")):
            a = create_row_array(g, IMPORT_ROW_ARRAYS["kp2d"], self.num_joints, self.n_rows, self.shard_rows)
            a[:] = kp2d.astype(np.float32)
