"""Which clip owns a row or a chunk file, and what to do about a corrupt one (`pipeline check --repair`).

Clips own shard-aligned row ranges, so every chunk / shard file of a per-row array belongs to one clip."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import zarr


def owner(root: str | Path, path: str, row: int) -> str:
    """'row N of clip I (S1/Walking 1/54138969)' for a row of the dataset holding array `path` (read from the clip
    table); 'row N (no clip: padding)' between clips."""
    try:
        g = zarr.open_group(str(Path(root) / path.split("/")[0] / "clips"), mode="r")
        start, length, table = g["start"][:], g["length"][:], g.attrs["table"]
    except Exception:  # noqa: BLE001 - a broken clip table: say what is known
        return f"row {row}"
    hit = np.flatnonzero((start <= row) & (row < start + length))
    if not len(hit):
        return f"row {row} (no clip: padding)"
    i = int(hit[0])
    return f"row {row} of clip {i} ({table['subject'][i]}/{table['action'][i]} {table['subaction'][i]}".rstrip() + \
        f"/{table['camera'][i]})"


def repair_hint(root: str | Path, path: str, row: int) -> str:
    """The owner of `row` and the two commands that re-extract it."""
    return (f"{owner(root, path, row)}; run `pipeline check {root} --repair`, then `pipeline extract` re-extracts "
            "it")


def file_row(root: str | Path, path: str, file: str | Path) -> int | None:
    """The first row stored in chunk / shard file `file` of array `root/path` (flat `c.i.0` or nested `c/i/0` keys),
    or None if it cannot be told."""
    try:
        key = Path(file).relative_to(Path(root) / path).as_posix()
        meta = json.loads((Path(root) / path / "zarr.json").read_text())
        rows = int(meta["chunk_grid"]["configuration"]["chunk_shape"][0])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    m = re.fullmatch(r"c[./](\d+)([./]\d+)*", key)
    return int(m.group(1)) * rows if m else None
