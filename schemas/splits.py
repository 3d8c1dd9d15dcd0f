"""Standard subject splits per dataset (H36M protocol: train S1,5,6,7,8 / test S9,11)."""

from __future__ import annotations

SPLITS: dict[str, dict[str, tuple[str, ...]]] = {
    "h36m": {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")},
    "3dhp": {"train": tuple(f"S{i}" for i in range(1, 9)), "test": tuple(f"TS{i}" for i in range(1, 7))},
    "muco": {"train": ("muco",), "test": ()},
}


def split_subjects(dataset: str, split: str) -> tuple[str, ...]:
    """Subjects of a named split; KeyError message lists the known ones."""
    try:
        return SPLITS[dataset][split]
    except KeyError:
        known = {d: list(s) for d, s in SPLITS.items()}
        raise KeyError(f"no split {split!r} for dataset {dataset!r}; known: {known}") from None
