"""A stand-in for the CPN detections on a synthetic H36M store: the store's GT 2D plus Gaussian pixel noise, written
in the VideoPose3D npz layout `pipeline import-2d` reads (positions_2d[subject][action][camera index], cameras in
VideoPose3D order). For pipeline checks of the CPN-2D recipes (docs/reproduce.md) only: real CPN detections come
from VideoPose3D's `data_2d_h36m_cpn_ft_h36m_dbb.npz`.

    python bench/pseudo_cpn.py --store repro/h36m.zarr --out repro/pseudo_cpn.npz --noise-px 5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pipeline.import2d import _camera_index
from storage.reader import Reader


def pseudo_cpn(store: Path, out: Path, noise_px: float, seed: int = 0) -> int:
    """Write the npz; returns the number of clips. Frames a clip does not store stay at their last stored value."""
    r = Reader(store, dataset="h36m")
    rng = np.random.default_rng(seed)
    positions: dict[str, dict[str, list]] = {}
    for c in r.clip_table:
        rows = np.arange(c.start, c.stop)
        d = r.read(rows, fields=("frame", "kp2d_gt"))
        n = int(d["frame"].max()) + 1
        det = np.empty((n, d["kp2d_gt"].shape[1], 2), np.float32)
        det[d["frame"]] = d["kp2d_gt"] + rng.normal(0.0, noise_px, d["kp2d_gt"].shape)
        cams = positions.setdefault(c.subject, {}).setdefault(f"{c.action} {c.subaction}".rstrip(), [None] * 4)
        cams[_camera_index(c.camera)] = det
    np.savez_compressed(out, positions_2d=positions, metadata={"num_joints": 17, "source": "pseudo-cpn"})
    return len(r.clip_table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--noise-px", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(f"{pseudo_cpn(a.store, a.out, a.noise_px, a.seed)} clips -> {a.out}")


if __name__ == "__main__":
    main()
