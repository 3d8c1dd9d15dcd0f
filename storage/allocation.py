"""Clip allocation: append clips to a dataset group with shard-aligned row ranges and grow every per-row array."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import zarr

from schemas.camera import CAMERA_VECTOR_LEN, Camera
from schemas.errors import StoreError
from storage.dataset import CLIP_STR_COLUMNS, KEY_COLUMNS, DatasetBase


def _meta_key(meta: dict) -> tuple[str, ...]:
    return tuple(str(meta.get(k, "")) for k in KEY_COLUMNS)


def _key(meta: dict) -> str:
    return f"{meta.get('subject')}/{meta.get('action')} {meta.get('subaction')}/{meta.get('camera')}"


def _clip_index(table: dict) -> dict[tuple[str, ...], int]:
    """{(subject, action, subaction, camera): clip index} of the clip table."""
    return {tuple(row): i for i, row in enumerate(zip(*(table[k] for k in KEY_COLUMNS), strict=True))}


class Allocation(DatasetBase):
    """Clip allocation; a clip's rows start on a shard boundary, so one writer per clip never shares a shard."""

    def allocate(self, metas: list[dict], lengths: Iterable[int], cameras: list[list[Camera]],
                 fps: Iterable[float | None] | None = None) -> list[int]:
        """Append clips with shard-aligned row ranges; returns their clip indices.

        metas: dicts with subject, action, subaction, camera, source · lengths: rows per clip ·
        cameras: per clip, the Camera list its rows index into · fps: per clip, its source's frame rate
        (frames/s; None: the files carry none, stored as NaN). Clips already present (same
        subject/action/subaction/camera) are not added again: their existing index is returned.
        """
        lengths = [int(x) for x in lengths]
        rates = [None] * len(lengths) if fps is None else list(fps)
        if not (len(metas) == len(lengths) == len(cameras) == len(rates)):
            raise StoreError("allocate: metas, lengths, cameras and fps must have one entry per clip")
        c = self.group["clips"]
        table = {k: list(v) for k, v in c.attrs["table"].items()}
        s = self.shard_rows
        n_rows, n_clips = self.n_rows, self.n_clips
        n_cams = self.group["cameras/params"].shape[0]
        index, have_len = _clip_index(table), c["length"][:]  # one read each, not one per clip
        out, new_start, new_len, new_off, new_cams, new_fps = [], [], [], [], [], []
        for meta, length, cams, rate in zip(metas, lengths, cameras, rates, strict=True):
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
            new_fps.append(np.nan if rate is None else float(rate))
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
        if "fps" in c:  # optional: stores written before it lack the per-clip frame rate
            c["fps"].resize((m,))
            c["fps"][n_clips:] = np.asarray(new_fps, dtype=np.float64)
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
            g["status"].resize((self.n_clips,))
            if "joints" in g:
                g["joints/status"].resize((self.n_clips,))
