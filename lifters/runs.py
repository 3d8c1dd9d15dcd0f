"""Run directories: where `pipeline train` writes when no --out is given, and which run `evaluate` picks."""

from __future__ import annotations

import time
from pathlib import Path

from schemas.errors import UsageError

RUNS_DIR = Path("runs")
CHECKPOINTS = ("last.pt", "best.pt")


def new_run_dir(model: str, base: Path = RUNS_DIR) -> Path:
    """runs/<model>-<YYYYmmdd-HHMMSS> (local time); a suffix -2, -3, ... if that exists already."""
    stem = base / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, k = stem, 1
    while out.exists():
        k += 1
        out = stem.with_name(f"{stem.name}-{k}")
    return out


def latest_run(base: Path = RUNS_DIR) -> Path:
    """The most recently written run directory under `base` (one holding a checkpoint); UsageError if none."""
    runs = [d for d in base.glob("*") if d.is_dir() and any((d / c).is_file() for c in CHECKPOINTS)]
    if not runs:
        raise UsageError(f"no run directory with a checkpoint under {base.absolute()}; pass RUN_DIR (the --out of "
                         f"`pipeline train`), or train one with `pipeline train capf --cache ./store`")
    return max(runs, key=lambda d: max((d / c).stat().st_mtime for c in CHECKPOINTS if (d / c).is_file()))
