"""Import of 2D detections in the common VideoPose3D npz layout (pure part; the store glue is in the CLI).

Layout: `positions_2d[subject][action][cam_idx]` = (N, 17, 2) float px, cameras in VideoPose3D order
[54138969, 55011271, 58860488, 60457274], actions named '<Action> <sub>' or '<Action>' (TakingPhoto -> Photo,
WalkingDog -> WalkDog). As VideoPose3D `run.py` does, detections longer than the mocap are truncated (reported);
shorter ones, or missing subjects/actions/cameras, are errors naming them — never a silent misalignment.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from pipeline.datasets.h36m_cameras import CAMERA_IDS
from schemas.errors import InputError


def load_positions_2d(npz_path: Path) -> dict:
    """{subject: {action: [ (N, J, 2) px per camera ]}} from a VideoPose3D-style npz."""
    path = Path(npz_path)
    try:
        z = np.load(path, allow_pickle=True)
        if not hasattr(z, "files"):
            raise InputError(f"{path}: is a single array, not an npz archive with 'positions_2d'")
        with z:
            if "positions_2d" not in z.files:
                raise InputError(f"{path}: no 'positions_2d' array (found {', '.join(z.files) or 'none'}); "
                                 "expected the VideoPose3D data_2d_<dataset>_<detector>.npz layout")
            arr = z["positions_2d"]
            positions = arr.item() if arr.dtype == object and arr.shape == () else arr  # a pickled dict, else as is
    except InputError:
        raise
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: cannot read as npz ({type(e).__name__}: {e})") from None
    if not isinstance(positions, dict):
        shape = f" of shape {positions.shape}" if isinstance(positions, np.ndarray) else ""
        raise InputError(f"{path}: positions_2d is a {type(positions).__name__}{shape}, expected a dict "
                         "{subject: {action: list of per-camera (N, J, 2) arrays}} (VideoPose3D's "
                         "data_2d_h36m_<detector>.npz); save it as np.savez(path, positions_2d=your_dict)")
    return positions


def _camera_index(camera) -> int:
    cam = str(camera)
    if cam in CAMERA_IDS:
        return CAMERA_IDS.index(cam)
    if cam.isdigit() and int(cam) < len(CAMERA_IDS):
        return int(cam)
    raise InputError(f"camera {cam!r} is neither an H36M camera id ({', '.join(CAMERA_IDS)}) nor an index 0..3")


def align_positions_2d(positions: dict, clips: list[dict]) -> tuple[list[np.ndarray | None], list[str]]:
    """Per clip the (L, J, 2) float32 detections at its row frames, and a report of truncations.

    Each clip dict has subject, action, subaction, camera (id or index), length (rows) and frame ((L,) row frame
    numbers); optional `num_frames` (mocap length) makes the truncation check exact, else frame[-1] + 1 is used.
    Raises InputError naming subject/action/camera for anything missing or too short.
    """
    arrays: list[np.ndarray | None] = []
    report: list[str] = []
    for c in clips:
        subject, action, sub = str(c["subject"]), str(c["action"]), str(c.get("subaction", ""))
        name = f"{action} {sub}".rstrip()
        where = f"subject {subject}, action {name!r}, camera {c['camera']}"
        if subject not in positions:
            raise InputError(f"2D detections: no subject {subject} in the npz (has {', '.join(map(str, positions))})"
                             f"; needed for {where}")
        acts = positions[subject]
        if name not in acts:
            raise InputError(f"2D detections: no action {name!r} for {subject} in the npz (has "
                             f"{', '.join(sorted(map(str, acts)))}); needed for {where}")
        idx = _camera_index(c["camera"])
        per_cam = acts[name]
        if idx >= len(per_cam):
            raise InputError(f"2D detections: {subject}/{name} has {len(per_cam)} cameras, camera index {idx} needed "
                             f"({where})")
        det = np.asarray(per_cam[idx], dtype=np.float32)
        frame = np.asarray(c["frame"], dtype=np.int64)
        if frame.shape[0] != int(c["length"]):
            raise InputError(f"2D detections: clip {where} has length {c['length']} but {frame.shape[0]} frames")
        if det.ndim != 3 or det.shape[-1] != 2:
            raise InputError(f"2D detections: {where}: array shape {det.shape}, expected (N, J, 2)")
        exact = "num_frames" in c
        needed = int(c["num_frames"]) if exact else int(frame.max()) + 1 if frame.size else 0
        what = "the mocap has" if exact else "the clip rows need"
        if det.shape[0] < needed:
            raise InputError(f"2D detections: {where}: npz has {det.shape[0]} frames but {what} {needed}; "
                             "the detections do not belong to this sequence (or are truncated)")
        if det.shape[0] > needed:
            report.append(f"{subject}/{name}/{c['camera']}: detections have {det.shape[0]} frames, {what} "
                          f"{needed}: truncated (as VideoPose3D run.py truncates to the mocap length)")
        arrays.append(det[frame])
    return arrays, report


def import_positions_2d(store: str | Path, npz: Path, name: str, dataset: str = "h36m") -> tuple[int, int, list[str]]:
    """Align `npz` (positions_2d[subject][action][camera], VideoPose3D layout, image px) to the store's rows and
    write it as imports/<name>/kp2d ((N, J, 2) float32, NaN on padding rows). Returns (clips, rows, report lines:
    truncations etc.); InputError on mismatches."""
    from storage.store import Store

    ds = Store.open(store, mode="r+").dataset(dataset)
    positions = load_positions_2d(npz)
    clips = ds.clips()
    frames = ds.group["rows/frame"][:]
    stride = int(ds.attrs.get("frame_stride", 1))
    metas = []
    for c in clips:
        m = {"subject": c.subject, "action": c.action, "subaction": c.subaction, "camera": c.camera,
             "length": c.length, "frame": frames[c.start:c.stop]}
        if stride == 1:
            m["num_frames"] = c.length
        metas.append(m)
    arrays, report = align_positions_2d(positions, metas)
    out = np.full((ds.n_rows, ds.num_joints, 2), np.nan, np.float32)
    for c, arr in zip(clips, arrays, strict=True):
        if arr.shape[1] != ds.num_joints:
            raise InputError(f"--npz {npz}: {c.subject}/{c.action} has {arr.shape[1]} joints, the store's joint set "
                             f"has {ds.num_joints}")
        out[c.start:c.stop] = arr
    ds.add_import(name, out, meta={"source": str(Path(npz).resolve()), "report": report})
    return len(clips), sum(c.length for c in clips), report
