"""Rewrite a backbone group in another map encoding without re-running the backbone (`pipeline compact`).

The source group (maps, flipped maps, kp2d, kp2d_score, status) is only read. The target group is written clip by
clip through the same `ClipWriter` extraction uses, one shard of rows at a time, and a clip's target status flips
to DONE only after all its rows are written: an interrupted compact leaves whole clips done and the rest pending,
and a rerun with the same source and encoding resumes from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from schemas.arrays import DONE, FAILED
from schemas.errors import InputError, StoreError
from storage.encodings import parse_encoding
from storage.faults import write_fault
from storage.lock import StoreLock
from storage.reader import Reader
from storage.store import DatasetGroup, Store

ENCODING_ATTRS = ("encoding", "codec", "keepbits", "quantisation")


def default_name(backbone: str, encoding: str) -> str:
    """Target group name when --name is not given: `<backbone>-<encoding>`."""
    return f"{backbone}-{encoding}"


def _dataset(store: Store, dataset: str | None) -> DatasetGroup:
    names = store.datasets()
    if dataset is None:
        if len(names) != 1:
            raise InputError(f"{store.path} holds datasets {', '.join(names) or 'none'}; pass --dataset NAME")
        dataset = names[0]
    return store.dataset(dataset)


def _prepare_target(ds: DatasetGroup, source: str, target: str, encoding: str, overwrite: bool) -> bool:
    """Create (or keep, to resume) the target group; returns True when resuming. Refuses an existing name."""
    src = ds.group["backbones"][source]
    if target in ds.backbones():
        tgt = ds.group["backbones"][target]
        todo = (src["status"][:] == DONE) & (tgt["status"][:] != DONE)
        same = tgt.attrs.get("compacted_from") == source and tgt.attrs.get("encoding") == encoding
        if overwrite:
            del ds.group["backbones"][target]
        elif same and todo.any():
            return True
        else:
            what = (f"a finished compact of {source!r} in {encoding}" if same else
                    f"backbone {tgt.attrs.get('compacted_from', target)!r} in {tgt.attrs.get('encoding', '?')}")
            raise InputError(f"{ds.where('backbones/' + target)} already exists ({what}); pass --overwrite to "
                             f"replace it, or --name NEW for another group")
    attrs = {k: v for k, v in src.attrs.items() if k not in ENCODING_ATTRS}
    attrs["compacted_from"] = source
    levels = {k: tuple(v) for k, v in src.attrs["levels"].items()}
    ds.add_backbone(target, levels, attrs=attrs, codec=encoding, flip=bool(src.attrs.get("flip", False)))
    return False


def _copy_clip(ds: DatasetGroup, reader: Reader, target: str, clip_index: int, flip: bool) -> None:
    """Read one clip's source rows shard by shard, write them through the target's encoder, then mark DONE."""
    clip = ds.clip(clip_index)
    w = ds.backbone_writer(target, clip_index)
    for a in range(clip.start, clip.stop, ds.shard_rows):
        rows = np.arange(a, min(a + ds.shard_rows, clip.stop))
        d = reader.read(rows, fields=(), maps=True)
        batch = {"kp2d": d["kp2d"], "kp2d_score": d["kp2d_score"], **{lv: d[lv] for lv in reader.levels}}
        if flip:
            f = reader.read(rows, fields=(), maps=True, flip=True)
            batch.update({f"flip/{lv}": f[lv] for lv in reader.levels})
        w.append(batch)
    w.close()


def compact(path: str | Path, backbone: str, encoding: str, name: str | None = None, overwrite: bool = False,
            dataset: str | None = None, on_clip: Callable[[int, int], None] | None = None) -> dict:
    """Rewrite backbones/<backbone> of one dataset as backbones/<name> in `encoding`; returns a summary dict.

    on_clip(done, total) is called after each clip written (progress). Raises InputError/StoreError for bad
    arguments (unknown encoding, missing backbone, existing target without overwrite, target == source).
    """
    parse_encoding(encoding)
    target = name or default_name(backbone, encoding)
    if target == backbone:
        raise InputError(f"--name {target!r} is the source group itself; compact writes a new group")
    with StoreLock(path):
        store = Store.open(path, mode="r+")
        ds = _dataset(store, dataset)
        if backbone not in ds.backbones():
            raise StoreError(f"{ds.where('backbones')}: no backbone {backbone!r}; the store has: "
                             f"{', '.join(ds.backbones()) or 'none'}")
        t0 = time.perf_counter()
        with write_fault(ds.where(f"backbones/{target}")):  # its metadata; the clips' writes name their arrays
            resumed = _prepare_target(ds, backbone, target, encoding, overwrite)
        src_status, tgt_status = ds.status(backbone), ds.status(target)
        for i in np.flatnonzero((src_status == FAILED) & (tgt_status != DONE)):
            ds.mark_failed(int(i), target)
        todo = [int(i) for i in np.flatnonzero((src_status == DONE) & (tgt_status != DONE))]
        reader = Reader(path, dataset=ds.name, backbone=backbone, keypoints=backbone)
        flip = bool(ds.group["backbones"][backbone].attrs.get("flip", False))
        rows = 0
        for k, ci in enumerate(todo):
            _copy_clip(ds, reader, target, ci, flip)
            rows += ds.clip(ci).length
            if on_clip is not None:
                on_clip(k + 1, len(todo))
        with write_fault(f"{store.path}/zarr.json"):
            store.consolidate()
        return {"store": str(path), "dataset": ds.name, "source": backbone, "target": target, "encoding": encoding,
                "resumed": resumed, "clips_written": len(todo), "clips_done": int((ds.status(target) == DONE).sum()),
                "rows_written": rows, "seconds": round(time.perf_counter() - t0, 2)}
