"""`pipeline check STORE --repair`: hand the clips that own corrupt or missing chunks back to `pipeline extract`.

Each such clip is marked PENDING in the status group the bad chunk belongs to (clips/status for rows/*, the
backbone's status for its maps, 2D and flipped maps), then its chunk/shard files of that group are removed (a clip
owns whole shards, so no other clip's data is touched). The next `pipeline extract` re-extracts exactly those clips
and, writing into fresh files, produces the bytes of a clean run. The status flips first: a repair killed midway
leaves the clip pending, never done with missing files.
"""

from __future__ import annotations

from pathlib import Path

import zarr

from schemas.arrays import PENDING
from storage.audit import Problem, audit_store, chunk_files
from storage.lock import StoreLock
from storage.store import DatasetGroup, Store


def _group_arrays(ds: DatasetGroup, group: str) -> list[zarr.Array]:
    """The per-row arrays a status group covers: rows/* or a backbone's arrays (with flip/, without joints/)."""
    if group == "rows":
        return [a for _, a in ds.group["rows"].arrays()]
    g = ds.group["backbones"][group]
    arrays = [a for name, a in g.arrays() if name != "status"]
    return arrays + ([a for _, a in g["flip"].arrays()] if "flip" in g else [])


def repair_store(path: str | Path, deep: bool = False) -> tuple[list[str], list[str]]:
    """Check the store; mark every clip with a bad chunk pending and remove its files in that group. Returns (one
    line per clip reset, the problems no clip owns: metadata or structure, which re-extraction cannot fix).
    Takes the store's writer lock."""
    with StoreLock(path):
        problems = audit_store(path, deep)
        bad = sorted({(p.dataset, p.group, p.clip) for p in problems if isinstance(p, Problem)})
        store = Store.open(path, mode="r+")
        done = []
        for dataset, group, clip_index in bad:
            ds = store.dataset(dataset)
            c = ds.clip(clip_index)
            ds.set_status(clip_index, PENDING, None if group == "rows" else group)
            removed = 0
            for arr in _group_arrays(ds, group):
                for f in chunk_files(arr, c.start, c.stop):
                    if (store.path / f).exists():
                        (store.path / f).unlink()
                        removed += 1
            where = "rows" if group == "rows" else f"backbone {group}"
            done.append(f"{dataset} clip {clip_index} ({c.subject}/{c.action} {c.subaction}/{c.camera}): {where} "
                        f"marked pending, {removed} chunk file(s) removed")
        return done, [str(p) for p in problems if not isinstance(p, Problem)]
