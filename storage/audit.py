"""`pipeline info` and `pipeline check` as data: a JSON-ready summary and a list of problems."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from schemas.arrays import BACKBONE_ROW_ARRAYS, DONE, FAILED, OPTIONAL_ROW_ARRAYS, PENDING, ROW_ARRAYS
from schemas.errors import CacheError, StoreError
from storage.encodings import QPARAMS_SUFFIX, group_encoding
from storage.rowread import RowArrays
from storage.shard_check import ShardIndex
from storage.store import DatasetGroup, Store

# Temporary files of a writer killed mid-write (zarr-python's `<chunk>.<uuid>.partial`, tensorstore's
# `<shard>.__lock`): not data, so never counted as stored bytes (the next write of that chunk replaces them).
WRITE_TEMP_SUFFIXES = (".partial", ".__lock")


def _dir_bytes(path: str | Path) -> tuple[int, int]:
    """(bytes, files) of all chunk/shard files below an array directory (metadata and writers' temporary files
    excluded). One scandir per directory and one stat per file (no os.walk: its per-entry lstat and path joins
    doubled `info` on 200k rows)."""
    total = files = 0
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return 0, 0
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            t, f = _dir_bytes(e.path)
            total, files = total + t, files + f
        elif e.name != "zarr.json" and not e.name.endswith(WRITE_TEMP_SUFFIXES):
            total += e.stat(follow_symlinks=False).st_size
            files += 1
    return total, files


def _array_info(store: Store, arr: zarr.Array, written_rows: int) -> dict:
    stored, files = _dir_bytes(store.path / arr.path)
    per_row = int(np.prod(arr.shape[1:], dtype=np.int64)) * arr.dtype.itemsize
    raw = per_row * written_rows
    return {"path": arr.path, "shape": list(arr.shape), "row_shape": list(arr.shape[1:]), "dtype": str(arr.dtype),
            "chunks": list(arr.chunks), "shards": list(arr.shards) if arr.shards else None,
            "codecs": [type(c).__name__ for c in arr.compressors], "stored_bytes": stored, "files": files,
            "raw_bytes_written_rows": raw, "compression_ratio": round(raw / stored, 3) if stored else None}


def _written_rows(ds: DatasetGroup, status: np.ndarray) -> int:
    return int(sum(c.length for c in ds.clips() if status[c.index] == DONE))


def _counts(status: np.ndarray) -> dict:
    return {"done": int((status == DONE).sum()), "pending": int((status == PENDING).sum()),
            "failed": int((status == FAILED).sum())}


def store_info(path: str | Path) -> dict:
    """Datasets, clip counts, rows and every array with shape, dtype, chunking, stored bytes and ratio."""
    store = Store.open(path)
    out = {"path": str(store.path), **store.attrs, "datasets": {}}
    for name in store.datasets():
        ds = store.dataset(name)
        st = ds.status()
        rows_written = _written_rows(ds, st)
        d = {"attrs": ds.attrs, "clips": len(st), **{f"clips_{k}": v for k, v in _counts(st).items()},
             "rows": ds.n_rows, "rows_written": rows_written, "arrays": [], "backbones": {}, "imports": ds.imports()}
        for _, arr in sorted(ds.group["rows"].arrays()):
            d["arrays"].append(_array_info(store, arr, rows_written))
        for bb in ds.backbones():
            g = ds.group["backbones"][bb]
            bst = g["status"][:]
            done = _written_rows(ds, bst)
            arrays = [_array_info(store, a, done) for n, a in sorted(g.arrays()) if n != "status"]
            if "flip" in g:
                arrays += [_array_info(store, a, done) for _, a in sorted(g["flip"].arrays())]
            if "joints" in g:  # joint features (pipeline derive --joint-features): rows of their own done clips
                jg = g["joints"]
                jdone = _written_rows(ds, jg["status"][:])
                groups = [jg] + ([jg["flip"]] if "flip" in jg else [])
                arrays += [_array_info(store, grp["feat"], jdone) for grp in groups]
            map_names = {f"{lv}{sfx}" for lv in g.attrs.get("levels", {}) for sfx in ("", QPARAMS_SUFFIX)}
            maps = [a for a in arrays if a["path"].rsplit("/", 1)[-1] in map_names]
            stored = sum(a["stored_bytes"] for a in maps)
            raw = sum(a["raw_bytes_written_rows"] for a in maps)
            d["backbones"][bb] = {"attrs": dict(g.attrs), "encoding": group_encoding(dict(g.attrs)).name,
                                  **{f"clips_{k}": v for k, v in _counts(bst).items()},
                                  "rows_written": done, "arrays": arrays, "map_stored_bytes": stored,
                                  "map_bytes_per_row": round(stored / done) if done else None,
                                  "map_ratio_vs_raw_fp16": round(stored / raw, 3) if raw else None}
        for imp in ds.imports():
            d["arrays"].append(_array_info(store, ds.group["imports"][imp]["kp2d"], rows_written))
        out["datasets"][name] = d
    return out


def chunk_files(arr: zarr.Array, start: int, stop: int) -> list[Path]:
    """Files (chunks, or shards when sharded) that must exist for rows [start, stop)."""
    unit = arr.shards[0] if arr.shards else arr.chunks[0]
    key, tail = arr.metadata.chunk_key_encoding.encode_chunk_key, (0,) * (arr.ndim - 1)
    return [Path(arr.path) / key((i, *tail)) for i in range(start // unit, -(-stop // unit))]


def _check_array(store: Store, arr: zarr.Array | None, path: str, row_shape: tuple, dtype: str, n_rows: int,
                 problems: list[str]) -> bool:
    if arr is None:
        problems.append(f"{path}: missing array")
        return False
    if tuple(arr.shape[1:]) != tuple(row_shape) or arr.shape[0] != n_rows:
        problems.append(f"{path}: shape {tuple(arr.shape)}, expected ({n_rows}, {', '.join(map(str, row_shape))})")
        return False
    if str(arr.dtype) != dtype and np.dtype(str(arr.dtype)) != np.dtype(dtype):
        problems.append(f"{path}: dtype {arr.dtype}, expected {dtype}")
        return False
    return True


def _get(group: zarr.Group, key: str) -> zarr.Array | None:
    try:
        a = group[key]
    except KeyError:
        return None
    return a if isinstance(a, zarr.Array) else None


def _clip_rows(store: Store, arr: zarr.Array, fast: dict, start: int, stop: int, need: bool,
               deep: bool) -> np.ndarray | None:
    """Rows [start, stop) of `arr` decoded (tensorstore, storage/rowread.py), or, for sharded maps when neither the
    data (`need`) nor a full decode (`deep`) is asked for, only their shard indices verified (None)."""
    if arr.path not in fast:
        fast[arr.path] = ShardIndex.open(store.path, arr.path)
    index = fast[arr.path]
    if index is not None and not (need or deep):
        index.verify(start, stop)
        return None
    reader = fast.setdefault(None, RowArrays(store.path))
    return reader.take(arr.path, np.arange(start, stop))


@dataclass(frozen=True)
class Problem:
    """A problem of one clip's data in one status group (what `pipeline check --repair` resets): `group` is "rows"
    (clips/status) or a backbone name (backbones/<name>/status)."""

    text: str
    dataset: str
    clip: int
    group: str

    def __str__(self) -> str:
        return self.text


def _check_done_clips(store: Store, ds: DatasetGroup, arrays: dict[str, zarr.Array], status: np.ndarray,
                      problems: list, group: str, nan_check: tuple[str, ...] = (), deep: bool = False) -> None:
    """Every chunk of every DONE clip exists and is readable; targets hold no NaN on valid rows. Small arrays are
    decoded; feature maps (sharded) have every shard index verified (crc32c, every row written, offsets inside the
    shard), and with `deep` every row decoded too (O(bytes) instead of O(files))."""
    valid, fast = ds.group["rows/valid"], {}
    for c in ds.clips():
        if status[c.index] != DONE:
            continue
        for name, arr in arrays.items():
            for f in chunk_files(arr, c.start, c.stop):
                if not (store.path / f).exists():
                    problems.append(Problem(f"{store.path / f}: missing chunk of {arr.path} for clip {c.index} "
                                            f"({c.subject}/{c.action} {c.subaction}/{c.camera}) marked done",
                                            ds.name, c.index, group))
            try:
                data = _clip_rows(store, arr, fast, c.start, c.stop, name in nan_check, deep)
            except Exception as e:  # noqa: BLE001
                problems.append(Problem(f"{store.path / arr.path}: unreadable chunk for rows {c.start}..{c.stop - 1} "
                                        f"(clip {c.index}): {type(e).__name__}: {e}", ds.name, c.index, group))
                continue
            if name in nan_check:
                v = _clip_rows(store, valid, fast, c.start, c.stop, True, deep)
                bad = ~np.isfinite(data[v]).reshape(int(v.sum()), -1).all(axis=1)
                if bad.any():
                    problems.append(f"{store.path / arr.path}: {int(bad.sum())} valid rows with NaN/inf in clip "
                                    f"{c.index} (first row {c.start + int(np.flatnonzero(v)[np.flatnonzero(bad)[0]])})")


def check_store(path: str | Path, deep: bool = False) -> list[str]:
    """All problems found (empty list = valid store). Never raises for a broken store: reports it.
    deep: also decode every feature-map row (default: verify shard indices and chunk checksums only)."""
    return [str(p) for p in audit_store(path, deep)]


def audit_store(path: str | Path, deep: bool = False) -> list[str | Problem]:
    """check_store's problems, those of one clip's data as `Problem`s (dataset, clip, status group)."""
    try:
        store = Store.open(path)
    except StoreError as e:
        return [str(e)]
    problems: list[str | Problem] = []
    for name in store.datasets():
        ds = store.dataset(name)
        g, j = ds.group, ds.num_joints
        try:
            n_rows = ds.n_rows
            status = ds.status()
        except KeyError as e:
            problems.append(f"{store.path}/{name}: missing clip/row structure ({e})")
            continue
        for col in ("start", "length", "camera_offset", "status"):
            if _get(g, f"clips/{col}") is None:
                problems.append(f"{store.path}/{name}/clips/{col}: missing array")
        rows_ok = {}
        optional = [s for s in OPTIONAL_ROW_ARRAYS.values() if _get(g, f"rows/{s.name}") is not None]
        for spec in (*ROW_ARRAYS.values(), *optional):
            arr = _get(g, f"rows/{spec.name}")
            if _check_array(store, arr, f"{store.path}/{name}/rows/{spec.name}", spec.row_shape(j), spec.dtype,
                            n_rows, problems):
                rows_ok[spec.name] = arr
        if "valid" in rows_ok:
            _check_done_clips(store, ds, rows_ok, status, problems, "rows", nan_check=("pose3d_cam", "kp2d_gt"),
                              deep=deep)
        for bb in ds.backbones():
            bg = g["backbones"][bb]
            base = f"{store.path}/{name}/backbones/{bb}"
            specs = {s.name: (s.row_shape(j), s.dtype) for s in BACKBONE_ROW_ARRAYS.values()}
            try:
                enc = group_encoding(dict(bg.attrs))
            except CacheError as e:  # an unknown encoding attribute: report it, never raise
                problems.append(f"{base}: {e}")
                continue
            for lvl, shape in bg.attrs.get("levels", {}).items():
                for pre in ("", "flip/") if bg.attrs.get("flip") else ("",):
                    specs[f"{pre}{lvl}"] = (tuple(shape), enc.stored_dtype)
                    if enc.kind == "int8":
                        specs[f"{pre}{lvl}{QPARAMS_SUFFIX}"] = ((shape[0], 2), "float32")
            ok = {k: a for k, (shape, dt) in specs.items()
                  if _check_array(store, a := _get(bg, k), f"{base}/{k}", shape, dt, n_rows, problems)}
            bst = _get(bg, "status")
            if bst is None:
                problems.append(f"{base}/status: missing array")
            elif "valid" in rows_ok:
                _check_done_clips(store, ds, ok, bst[:], problems, bb, deep=deep)
    return problems
