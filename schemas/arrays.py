"""Array specs of the store: name, per-row shape, dtype, unit, meaning; and the schema version.

Shapes use symbolic dims: "J" joints of the dataset's joint set, and level dims for feature maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCHEMA_NAME = "ctxpose-cache"
SCHEMA_VERSION = 1

# clip status values (clips/status and backbones/<name>/status)
PENDING, DONE, FAILED = 0, 1, 2


@dataclass(frozen=True)
class ArraySpec:
    """One per-row array. `shape` is the per-row shape; ints or the symbol "J"."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str
    unit: str
    meaning: str

    def row_shape(self, num_joints: int) -> tuple[int, ...]:
        return tuple(num_joints if d == "J" else int(d) for d in self.shape)

    def check(self, arr: np.ndarray, num_joints: int, n_rows: int, where: str) -> None:
        """Raise ValueError naming `where` if `arr` is not (n_rows, *row_shape) of this dtype's kind."""
        want = (n_rows, *self.row_shape(num_joints))
        if tuple(arr.shape) != want:
            raise ValueError(f"{where}: array {self.name!r} has shape {tuple(arr.shape)}, expected {want}")
        if np.dtype(arr.dtype).kind != np.dtype(self.dtype).kind:
            raise ValueError(f"{where}: array {self.name!r} has dtype {arr.dtype}, expected {self.dtype}")


# Per-row arrays of a dataset group (<dataset>/rows/<name>); row axis shared by every per-row array.
ROW_ARRAYS: dict[str, ArraySpec] = {s.name: s for s in (
    ArraySpec("clip", (), "int32", "index", "clip index into clips/ (-1 for padding rows)"),
    ArraySpec("frame", (), "int32", "index", "frame number within the source video / image set"),
    ArraySpec("person", (), "int32", "index", "person instance within the frame (MuCo), else 0"),
    ArraySpec("camera", (), "int32", "index", "index into cameras/params"),
    ArraySpec("valid", (), "bool", "flag", "row holds a valid annotated sample (False for padding/invalid frames)"),
    ArraySpec("bbox", (4,), "float32", "px", "crop box x0, y0, x1, y1 in image pixels"),
    ArraySpec("affine", (2, 3), "float32", "px->px", "crop affine: [u, v]^T = A @ [x, y, 1]^T, image px -> crop px"),
    ArraySpec("kp2d_gt", ("J", 2), "float32", "px", "ground-truth 2D joints in image pixels (distorted)"),
    ArraySpec("pose3d_cam", ("J", 3), "float32", "mm", "ground-truth 3D joints, camera frame, absolute"),
)}

# Optional per-row arrays: created with the dataset when its adapter provides them, written with the clip's rows.
OPTIONAL_ROW_ARRAYS: dict[str, ArraySpec] = {s.name: s for s in (
    ArraySpec("pose3d_univ", ("J", 3), "float32", "mm",
              "3DHP univ_annot3: ground-truth 3D rescaled to the universal skeleton, camera frame, absolute "
              "(the official evaluation's target)"),
)}

# Per-row arrays of a backbone group (<dataset>/backbones/<name>/<array>) other than feature levels.
BACKBONE_ROW_ARRAYS: dict[str, ArraySpec] = {s.name: s for s in (
    ArraySpec("kp2d", ("J", 2), "float32", "px", "this detector's 2D joints in image pixels"),
    ArraySpec("kp2d_score", ("J",), "float32", "1", "this detector's per-joint confidence"),
)}

# Imported 2D sources (<dataset>/imports/<name>/kp2d).
IMPORT_ROW_ARRAYS: dict[str, ArraySpec] = {
    "kp2d": ArraySpec("kp2d", ("J", 2), "float32", "px", "imported 2D detections in image pixels"),
}

MAP_DTYPE = "float16"

# Clip table (<dataset>/clips/<name>), one entry per video / image set.
CLIP_COLUMNS: dict[str, str] = {
    "subject": "str", "action": "str", "subaction": "str", "camera": "str",
    "source": "str",  # path of the video / image folder relative to the raw root
    "start": "int64", "length": "int64", "status": "int8",
}


def level_spec(name: str, channels: int, height: int, width: int) -> ArraySpec:
    """Feature-map level spec: (C, H, W) float16 per row."""
    return ArraySpec(name, (channels, height, width), MAP_DTYPE, "activation",
                     f"backbone feature map {name} (post-ReLU activations), crop-aligned")


def map_bytes_per_row(levels: dict[str, tuple[int, int, int]]) -> int:
    """Raw fp16 bytes per row of all levels, e.g. 368,640 for HRNet-W32 at 256x192."""
    return int(sum(np.prod(s) for s in levels.values()) * np.dtype(MAP_DTYPE).itemsize)


# HRNet-W32 @ 256x192 taps: stage-4 output of branch 0 + stage-4 inputs of branches 1-3.
HRNET_W32_LEVELS: dict[str, tuple[int, int, int]] = {
    "s4": (32, 64, 48), "s8": (64, 32, 24), "s16": (128, 16, 12), "s32": (256, 8, 6),
}
