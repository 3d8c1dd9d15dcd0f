"""Shared pieces of the dataset adapters: the Skip record and argument checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemas.errors import InputError


@dataclass(frozen=True)
class Skip:
    """A raw file an adapter left out on purpose, and why (logged and reported, never silent)."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


def require_root(root: Path, dataset: str) -> Path:
    """The dataset root as a Path; InputError if it does not exist or is not a folder."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{dataset} root {str(root)!r} does not exist or is not a folder; pass the folder that "
                         "holds the raw dataset (see README, 'raw layouts')")
    return root


def check_stride(frame_stride: int) -> int:
    if int(frame_stride) < 1:
        raise InputError(f"--frame-stride must be >= 1, got {frame_stride}")
    return int(frame_stride)


def missing_subjects(wanted: list[str] | None, found: list[str], root: Path, dataset: str) -> None:
    """InputError naming the requested subjects that have no folder under root."""
    if wanted is None:
        return
    missing = [s for s in wanted if s not in found]
    if missing:
        raise InputError(f"{dataset}: subject(s) {', '.join(missing)} not found under {root} (found: "
                         f"{', '.join(found) or 'none'})")
