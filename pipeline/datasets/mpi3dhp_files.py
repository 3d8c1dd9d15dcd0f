"""Readers of the MPI-INF-3DHP annotation formats: `camera.calibration`, `annot.mat` (v5), `annot_data.mat` (HDF5).

- `camera.calibration` (Skeletool text format): a header line, then per camera `name`, `sensor`, `size W H`,
  `animated`, `intrinsic` (4x4 row-major K), `extrinsic` (4x4 row-major world->camera, mm), `radial`.
- `annot.mat` (MATLAB v5, scipy.io): cells per camera (14): `annot2` (F, 56) px x1 y1 x2 y2…, `annot3` and
  `univ_annot3` (F, 84) camera mm, 28 joints; `frames` (F, 1).
- `annot_data.mat` (MATLAB v7.3 = HDF5, h5py): `annot2` (n, 1, 17, 2) px, `annot3` / `univ_annot3` (n, 1, 17, 3)
  camera mm, already in the 17-joint ('relevant', mpi17) order; `valid_frame` (n,) or (n, 1).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io

from schemas.camera import Camera
from schemas.errors import InputError

CALIBRATION_HEADER = "Skeletool Camera Calibration File V1.0"


def read_calibration(path: Path) -> dict[str, Camera]:
    """{camera name ('0'..'13'): Camera} from a Skeletool `camera.calibration` file (no lens distortion)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read camera calibration ({e})") from None
    if not lines or lines[0].strip() != CALIBRATION_HEADER:
        raise InputError(f"{path}: not a Skeletool camera.calibration file (first line must be "
                         f"{CALIBRATION_HEADER!r})")
    cams: dict[str, Camera] = {}
    cur: dict[str, list[str]] = {}

    def flush() -> None:
        if not cur:
            return
        try:
            name = cur["name"][0]
            K = np.array(cur["intrinsic"], dtype=np.float64).reshape(4, 4)
            E = np.array(cur["extrinsic"], dtype=np.float64).reshape(4, 4)
            w, h = (int(float(v)) for v in cur["size"][:2])
        except (KeyError, ValueError, IndexError) as e:
            raise InputError(f"{path}: camera block {cur.get('name', ['?'])[0]} is incomplete or malformed "
                             f"({type(e).__name__}: {e})") from None
        cams[name] = Camera(f=[K[0, 0], K[1, 1]], c=[K[0, 2], K[1, 2]], R_w2c=E[:3, :3], t_w2c=E[:3, 3],
                            width=w, height=h, id=name)

    for line in lines[1:]:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "name":
            flush()
            cur = {}
        cur[parts[0]] = parts[1:]
    flush()
    if not cams:
        raise InputError(f"{path}: no camera blocks found")
    return cams


def read_annot_mat(path: Path) -> dict[str, np.ndarray]:
    """Train annotations: {'annot2': (C, F, 28, 2), 'annot3': (C, F, 28, 3), 'univ_annot3': (C, F, 28, 3)} float64."""
    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises ValueError/TypeError/MatReadError on foreign files
        raise InputError(f"{path}: not a MATLAB v5 annot.mat ({type(e).__name__}: {e})") from None
    out = {}
    for key, d in (("annot2", 2), ("annot3", 3), ("univ_annot3", 3)):
        if key not in mat:
            if key == "univ_annot3":
                continue
            raise InputError(f"{path}: variable {key!r} missing; expected the 3DHP annot.mat (annot2, annot3, "
                             "univ_annot3 cells per camera)")
        cells = np.asarray(mat[key]).ravel()
        try:
            arrs = [np.asarray(c, dtype=np.float64) for c in cells]
            n = min(a.shape[0] for a in arrs)
            out[key] = np.stack([a[:n].reshape(n, 28, d) for a in arrs])
        except (ValueError, TypeError) as e:
            raise InputError(f"{path}: variable {key!r} is not per-camera (F, {28 * d}) arrays ({e})") from None
    return out


def read_annot_data_mat(path: Path) -> dict[str, np.ndarray]:
    """Test annotations: {'annot2': (n, 17, 2), 'annot3': (n, 17, 3), 'univ_annot3': (n, 17, 3), 'valid': (n,) bool}."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("annot2", "annot3", "valid_frame") if k not in f]
            if missing:
                raise InputError(f"{path}: HDF5 variables {missing} missing; expected the 3DHP test annot_data.mat")
            out = {"annot2": np.asarray(f["annot2"], np.float64).reshape(-1, 17, 2),
                   "annot3": np.asarray(f["annot3"], np.float64).reshape(-1, 17, 3),
                   "valid": np.asarray(f["valid_frame"]).reshape(-1) > 0}
            if "univ_annot3" in f:
                out["univ_annot3"] = np.asarray(f["univ_annot3"], np.float64).reshape(-1, 17, 3)
    except InputError:
        raise
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not an HDF5 (MATLAB v7.3) annot_data.mat ({type(e).__name__}: {e})") from None
    n = out["annot2"].shape[0]
    if out["annot3"].shape[0] != n or out["valid"].shape[0] != n:
        raise InputError(f"{path}: annot2/annot3/valid_frame lengths differ ({n}, {out['annot3'].shape[0]}, "
                         f"{out['valid'].shape[0]})")
    return out
