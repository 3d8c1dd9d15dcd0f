"""Named split protocols (train / test subjects per dataset) and the standard split of each dataset.

- `p1`: H36M Protocol 1, train S1,5,6,7,8 / test S9,11 (VideoPose3D, CA-PF, ST, PLT, CDL P1);
- `cdl-p2`: H36M Protocol 2 of Cascaded Dimension-Lifting, train S1,5,6,7,8,9 / test S11 (CDL 'Datasets');
- `3dhp`: MPI-INF-3DHP train S1-S8 / official test TS1-TS6 (the reader keeps only `valid_frame` rows);
- `muco`: MuCo-3DHP, train only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    """A named split of one dataset: subjects per split ('train', 'test')."""

    name: str
    dataset: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    source: str

    def subjects(self, split: str) -> tuple[str, ...]:
        if split not in ("train", "test"):
            raise KeyError(f"no split {split!r} in protocol {self.name!r}; splits: train, test")
        return self.train if split == "train" else self.test


_H36M_TRAIN = ("S1", "S5", "S6", "S7", "S8")
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("p1", "h36m", _H36M_TRAIN, ("S9", "S11"), "H36M Protocol 1 (VideoPose3D, CA-PF, ST, PLT, CDL)"),
    Protocol("cdl-p2", "h36m", (*_H36M_TRAIN, "S9"), ("S11",), "Cascaded Dimension-Lifting Protocol 2"),
    Protocol("3dhp", "3dhp", tuple(f"S{i}" for i in range(1, 9)), tuple(f"TS{i}" for i in range(1, 7)),
             "MPI-INF-3DHP train / official test (valid frames)"),
    Protocol("muco", "muco", ("muco",), (), "MuCo-3DHP (train only)"),
)}
DEFAULT_PROTOCOL: dict[str, str] = {"h36m": "p1", "3dhp": "3dhp", "muco": "muco"}

def get_protocol(dataset: str, name: str | None = None) -> Protocol:
    """Protocol `name` (None: the dataset's standard one); KeyError naming the known ones for this dataset."""
    name = name or DEFAULT_PROTOCOL.get(dataset)
    p = PROTOCOLS.get(name or "")
    if p is None or p.dataset != dataset:
        known = [k for k, v in PROTOCOLS.items() if v.dataset == dataset]
        raise KeyError(f"no protocol {name!r} for dataset {dataset!r}; known: {', '.join(known) or 'none'}")
    return p


def split_subjects(dataset: str, split: str, protocol: str | None = None) -> tuple[str, ...]:
    """Subjects of a named split of `protocol` (default: the dataset's standard one); KeyError if unknown."""
    return get_protocol(dataset, protocol).subjects(split)
