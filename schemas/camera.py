"""Pinhole camera with Brown/OpenCV distortion; world->camera as x_cam = R_w2c @ x_world + t_w2c (mm).

All functions are vectorized over leading axes and pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The store's camera row (cameras/params, (K, 23) float64): fx fy cx cy k1 k2 k3 p1 p2 R_w2c (row-major) t_w2c (mm)
# width height, grouped by the Camera attribute each run of fields holds; the one place the layout is written.
_VECTOR_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("f", ("fx", "fy")), ("c", ("cx", "cy")), ("k", ("k1", "k2", "k3")), ("p", ("p1", "p2")),
    ("R_w2c", tuple(f"R{i}{j}" for i in range(3) for j in range(3))), ("t_w2c", ("tx", "ty", "tz")),
    ("width", ("width",)), ("height", ("height",)))
CAMERA_VECTOR_FIELDS: tuple[str, ...] = tuple(f for _, fields in _VECTOR_GROUPS for f in fields)
CAMERA_VECTOR_LEN = len(CAMERA_VECTOR_FIELDS)
CAMERA_VECTOR_INDEX: dict[str, int] = {f: i for i, f in enumerate(CAMERA_VECTOR_FIELDS)}


@dataclass(frozen=True)
class Camera:
    """Intrinsics in pixels, extrinsics world->camera in mm.

    f: (2,) fx, fy px · c: (2,) cx, cy px · k: (3,) radial k1..k3 · p: (2,) tangential p1, p2 (OpenCV order)
    R_w2c: (3, 3) · t_w2c: (3,) mm · width, height: px.
    """

    f: np.ndarray
    c: np.ndarray
    k: np.ndarray = field(default_factory=lambda: np.zeros(3))
    p: np.ndarray = field(default_factory=lambda: np.zeros(2))
    R_w2c: np.ndarray = field(default_factory=lambda: np.eye(3))
    t_w2c: np.ndarray = field(default_factory=lambda: np.zeros(3))
    width: int = 1000
    height: int = 1000
    id: str = ""

    def __post_init__(self) -> None:
        for name, shape in (("f", (2,)), ("c", (2,)), ("k", (3,)), ("p", (2,)), ("R_w2c", (3, 3)),
                            ("t_w2c", (3,))):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != shape:
                raise ValueError(f"camera {self.id!r}: {name} must have shape {shape}, got {arr.shape}")
            object.__setattr__(self, name, arr)

    @property
    def center_world(self) -> np.ndarray:
        """(3,) camera centre in world mm: C = -R^T t."""
        return -self.R_w2c.T @ self.t_w2c

    @property
    def K(self) -> np.ndarray:
        """(3, 3) intrinsic matrix."""
        return np.array([[self.f[0], 0, self.c[0]], [0, self.f[1], self.c[1]], [0, 0, 1.0]])

    def to_dict(self) -> dict:
        """JSON-ready dict: subject-independent keys of `pipeline cameras --format json`."""
        return {"camera": self.id, "f": self.f.tolist(), "c": self.c.tolist(), "k": self.k.tolist(),
                "p": self.p.tolist(), "R_w2c": self.R_w2c.tolist(), "t_w2c": self.t_w2c.tolist(),
                "width": int(self.width), "height": int(self.height)}

    @classmethod
    def from_dict(cls, d: dict) -> Camera:
        return cls(f=d["f"], c=d["c"], k=d.get("k", [0, 0, 0]), p=d.get("p", [0, 0]), R_w2c=d["R_w2c"],
                   t_w2c=d["t_w2c"], width=int(d["width"]), height=int(d["height"]), id=str(d.get("camera", "")))

    def to_vector(self) -> np.ndarray:
        """(23,) float64 in CAMERA_VECTOR_FIELDS order — the store's camera row."""
        return np.concatenate([np.ravel(getattr(self, attr)).astype(np.float64) for attr, _ in _VECTOR_GROUPS])

    @classmethod
    def from_vector(cls, v: np.ndarray, id: str = "") -> Camera:
        """The Camera of a (23,) CAMERA_VECTOR_FIELDS row (inverse of `to_vector`)."""
        v = np.asarray(v, dtype=np.float64)
        if v.shape != (CAMERA_VECTOR_LEN,):
            raise ValueError(f"camera vector must have shape ({CAMERA_VECTOR_LEN},), got {v.shape}")
        parts, start = {}, 0
        for attr, fields in _VECTOR_GROUPS:
            parts[attr], start = v[start:start + len(fields)], start + len(fields)
        return cls(f=parts["f"], c=parts["c"], k=parts["k"], p=parts["p"], R_w2c=parts["R_w2c"].reshape(3, 3),
                   t_w2c=parts["t_w2c"], width=int(round(parts["width"][0])), height=int(round(parts["height"][0])),
                   id=id)


def camera_field(vectors: np.ndarray, name: str) -> np.ndarray:
    """(...,) the field `name` (one of CAMERA_VECTOR_FIELDS, e.g. "width") of (..., 23) camera rows."""
    return np.asarray(vectors)[..., CAMERA_VECTOR_INDEX[name]]


def world_to_camera(x_world: np.ndarray, R_w2c: np.ndarray, t_w2c: np.ndarray) -> np.ndarray:
    """(..., 3) world mm -> (..., 3) camera mm."""
    return np.asarray(x_world) @ np.asarray(R_w2c).T + np.asarray(t_w2c)


def camera_to_world(x_cam: np.ndarray, R_w2c: np.ndarray, t_w2c: np.ndarray) -> np.ndarray:
    """(..., 3) camera mm -> (..., 3) world mm (inverse of `world_to_camera`)."""
    return (np.asarray(x_cam) - np.asarray(t_w2c)) @ np.asarray(R_w2c)


def distort(xy: np.ndarray, k: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(..., 2) normalized image coords (x/z, y/z) -> distorted, Brown/OpenCV model (k1..k3, p1, p2)."""
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    xd = x * radial + 2 * p[0] * x * y + p[1] * (r2 + 2 * x * x)
    yd = y * radial + p[0] * (r2 + 2 * y * y) + 2 * p[1] * x * y
    return np.stack([xd, yd], axis=-1)


def project(x_cam: np.ndarray, cam: Camera, distortion: bool = True) -> np.ndarray:
    """(..., 3) camera-frame mm -> (..., 2) pixels, with lens distortion unless `distortion=False`."""
    x_cam = np.asarray(x_cam, dtype=np.float64)
    xy = x_cam[..., :2] / x_cam[..., 2:3]
    if distortion:
        xy = distort(xy, cam.k, cam.p)
    return xy * cam.f + cam.c


def project_world(x_world: np.ndarray, cam: Camera, distortion: bool = True) -> np.ndarray:
    """(..., 3) world mm -> (..., 2) pixels."""
    return project(world_to_camera(x_world, cam.R_w2c, cam.t_w2c), cam, distortion)


def normalize_screen_coordinates(xy: np.ndarray, w: int, h: int) -> np.ndarray:
    """(..., 2) pixels -> [-1, 1] along x, aspect kept: `xy / w * 2 - [1, h / w]` (VideoPose3D)."""
    return np.asarray(xy) / w * 2 - np.array([1, h / w])


def image_coordinates(xy: np.ndarray, w: int, h: int) -> np.ndarray:
    """Inverse of `normalize_screen_coordinates`: (..., 2) normalized -> pixels."""
    return (np.asarray(xy) + np.array([1, h / w])) * w / 2


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(4,) unit quaternion (w, x, y, z) -> (3, 3) rotation matrix."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
