"""The dataset adapter contract (`DatasetAdapter`) and its shared pieces: the Skip record and argument checks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pipeline.clip import Clip
from schemas.errors import InputError

SKIPPED, FAILED, TRUNCATED = "skipped", "failed", "truncated"


@dataclass(frozen=True)
class Skip:
    """A raw file an adapter left out or adjusted, and why (logged and reported, never silent).

    kind: SKIPPED (left out on purpose: not part of the layout, a known-bad file), FAILED (an annotation file that
    should have made clips but is unreadable or inconsistent: its clips `clip` count as failed and the run exits 1,
    while every other clip proceeds) or TRUNCATED (the clip was shortened to what its files agree on)."""

    source: str
    reason: str
    kind: str = SKIPPED
    clip: str = ""  # FAILED: the clip key(s) the file would have made, e.g. 'S1/Walking 1/*'

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


def failed_file(source: str | Path, error: Exception, clip: str, hint: str) -> Skip:
    """A FAILED Skip from the InputError that reading an annotation file raised (it names the file and what is
    wrong) plus what to do."""
    return Skip(str(source), f"{error}; {hint}", FAILED, clip)


def no_clips_message(dataset: str, root: Path, skips: list[Skip]) -> str:
    """The error for a root that yields no clip: why each file was skipped (the first few), or that nothing
    matched the layout."""
    if not skips:
        return (f"--root {root}: no {dataset} clips found: nothing under it matches the {dataset} layout; "
                "point --root at the dataset folder (README 'Raw data layouts') or pass the right --dataset")
    shown = "; ".join(str(s) for s in skips[:4]) + (f"; ... ({len(skips) - 4} more)" if len(skips) > 4 else "")
    return (f"--root {root}: no {dataset} clips found; {len(skips)} file(s) skipped: {shown}. Check the layout "
            "(README 'Raw data layouts') or pass the right --dataset")


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


class DatasetAdapter(ABC):
    """A raw dataset layout -> `Clip`s. One instance per dataset, in `pipeline.datasets.registry.ADAPTERS`.

    `name`: the dataset name (`--dataset`, the store's group) · `joint_set`: its `schemas.joints` set ·
    `fps`: the nominal frame rate of its sequences (frames/s; None for still images), the store's dataset attr
    `fps`; each clip's own rate, read from its files where they carry one, is `Clip.fps`. A clip loads its
    frames itself (`Clip.frames()`, streamed on the worker that processes it).
    """

    name: ClassVar[str]
    joint_set: ClassVar[str]
    fps: ClassVar[float | None]

    @abstractmethod
    def list_clips(self, root: Path, subjects: list[str] | None = None, frame_stride: int = 1,
                   actions: list[str] | None = None) -> tuple[list[Clip], list[Skip]]:
        """Every clip under `root` (filtered by subjects / actions, every `frame_stride`-th frame) and the raw
        files left out, with why. InputError for a missing root, unknown subject or unreadable annotation."""

    @abstractmethod
    def camera_table(self, root: Path | None = None) -> list[dict]:
        """Rows of `pipeline cameras NAME` (subject, ..., `Camera.to_dict()`): the cameras under `root`, or the
        built-in table without it."""
