"""Synthetic raw datasets in the original layouts (real codecs and annotation formats) from a procedural body."""

from __future__ import annotations

from pathlib import Path

from pipeline.synth.h36m import synth_h36m
from pipeline.synth.mpi3dhp import synth_3dhp
from pipeline.synth.muco import synth_muco

__all__ = ["synth_3dhp", "synth_dataset", "synth_h36m", "synth_muco"]


def synth_dataset(dataset: str, out: Path, subjects: list[str] | None = None, actions: list[str] | None = None,
                  frames: int = 16, seed: int = 0, size: int | None = None) -> dict:
    """Dispatch to the writer of `dataset` ('h36m', '3dhp', 'muco'); `size` only for 3dhp train and muco."""
    from pipeline.datasets.registry import get_adapter
    from schemas.errors import InputError

    get_adapter(dataset)  # InputError naming the valid datasets
    if frames < 1:
        raise InputError(f"--frames must be >= 1, got {frames}")
    if size is not None and (size < 64 or size % 2):
        raise InputError(f"--size must be an even number >= 64, got {size}")
    if dataset == "h36m":
        if size is not None:
            raise InputError("--size does not apply to h36m (videos use the real camera resolutions)")
        return synth_h36m(out, subjects, actions, frames, seed)
    if dataset == "3dhp":
        return synth_3dhp(out, subjects, actions, frames, seed, size=size or 1024)
    if dataset == "muco":
        if subjects is not None and subjects != ["muco"]:
            raise InputError("--subjects does not apply to muco (a single subject 'muco')")
        return synth_muco(out, actions, frames, seed, size=size or 1024)
    raise AssertionError(f"no synthetic writer for dataset {dataset!r}")
