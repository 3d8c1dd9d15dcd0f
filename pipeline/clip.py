"""The unit of work every dataset adapter yields and every extraction task consumes: one clip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from schemas.camera import Camera


@dataclass
class Clip:
    """One video (h36m, 3dhp train), image sequence (3dhp test) or image set (muco) and its L rows.

    Rows are samples: frames for videos, person instances for MuCo. Arrays are per row:
    frame (L,) int32 source frame/image number · person (L,) int32 · image (L,) int32 index into the order
    `frames()` yields images · camera (L,) int32 index into `cameras` · kp2d_gt (L, J, 2) float32 px ·
    pose3d_cam (L, J, 3) float32 camera mm · valid (L,) bool · pose3d_univ (L, J, 3) float32 camera mm or None
    (3DHP's univ_annot3; schemas.arrays.OPTIONAL_ROW_ARRAYS).
    `frames()` streams (H, W, 3) uint8 RGB images lazily, in `image` order, one per distinct image (the adapters'
    sources also take `decode=` of pipeline.datasets.video.VIDEO_DECODES, bound by `Clip.decoded_on`); it raises
    `schemas.errors.InputError` naming the file if decoding fails. `fps`: the source sequence's frame rate
    (frames/s) as its file records it (a video's average rate), None where the files carry none (image
    sequences, stills).
    """

    dataset: str
    subject: str
    action: str
    subaction: str
    camera_id: str
    source: str
    joint_set: str
    cameras: list[Camera]
    frame: np.ndarray
    person: np.ndarray
    image: np.ndarray
    camera: np.ndarray
    kp2d_gt: np.ndarray
    pose3d_cam: np.ndarray
    valid: np.ndarray
    frames: Callable[[], Iterator[np.ndarray]] = field(repr=False, default=lambda: iter(()))
    fps: float | None = None
    pose3d_univ: np.ndarray | None = field(repr=False, default=None)

    def decoded_on(self, decode: str) -> Clip:
        """This clip with its frames decoded on `decode` ("cpu": unchanged; "cuda": NVDEC for videos)."""
        return self if decode == "cpu" else replace(self, frames=partial(self.frames, decode=decode))

    def optional_rows(self) -> dict[str, np.ndarray]:
        """The optional per-row arrays this clip carries (name -> (L, ...) array)."""
        return {} if self.pose3d_univ is None else {"pose3d_univ": self.pose3d_univ.astype(np.float32)}

    @property
    def length(self) -> int:
        return int(self.frame.shape[0])

    @property
    def key(self) -> str:
        """Stable id, e.g. 'S1/Directions 1/54138969'."""
        return f"{self.subject}/{self.action} {self.subaction}".rstrip() + f"/{self.camera_id}"

    def meta(self) -> dict[str, str]:
        return {"subject": self.subject, "action": self.action, "subaction": self.subaction,
                "camera": self.camera_id, "source": self.source}
