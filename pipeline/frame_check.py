"""Inputs checked against each other: a clip's decoded frame size against its camera's.

A video re-encoded at another size (320x240 where the camera says 1000x1000) would otherwise be cropped with boxes
that lie outside it: maps of a black image, stored as done. Differences up to `SIZE_TOLERANCE_PX` per side are
known in real data (some H36M videos are 1000x1002 where the camera table says 1000x1000): the video's own size is
used for the full-frame boxes and bounds checks, and a note says so (once per run, see flows/extract.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from itertools import chain

import numpy as np

from pipeline.clip import Clip
from schemas.errors import InputError

SIZE_TOLERANCE_PX = 4  # per side; larger differences fail the clip


def _size_error(clip: Clip, got: tuple[int, int], cam_index: int, what: str) -> InputError:
    cam = clip.cameras[cam_index]
    return InputError(f"clip {clip.key} ({clip.source}): {what} is {got[0]}x{got[1]} px but its camera "
                      f"{cam.id or cam_index} says {cam.width}x{cam.height}; the file was re-encoded or belongs to "
                      "another camera: use the original file (or fix the camera table)")


def fit_frame_size(clip: Clip) -> tuple[Clip, str | None]:
    """Decode the clip's first image and compare its (width, height) with its camera's.

    Returns (clip, note): beyond SIZE_TOLERANCE_PX an InputError naming both sizes; within it but different, a
    copy of the clip whose cameras of that size carry the decoded size (boxes use it) and a one-line note; else
    the clip unchanged and None. The decoded image is not decoded twice: the returned clip's `frames()` yields it
    first (a one-shot stream, as `extract_clip` consumes it once)."""
    it: Iterator[np.ndarray] = iter(clip.frames())
    first = next(it, None)
    if first is None or not clip.length:
        return clip, None  # no image: extract_clip reports it with the row that needs one
    got = (int(np.shape(first)[1]), int(np.shape(first)[0]))
    cam_index = int(clip.camera[int(np.argmax(np.asarray(clip.image) == 0))])
    cam = clip.cameras[cam_index]
    d = (abs(got[0] - cam.width), abs(got[1] - cam.height))
    stream = dataclasses.replace(clip, frames=lambda: chain([first], it))
    if d == (0, 0):
        return stream, None
    if max(d) > SIZE_TOLERANCE_PX:
        raise _size_error(clip, got, cam_index, "its first decoded frame")
    same = [dataclasses.replace(c, width=got[0], height=got[1]) if (c.width, c.height) == (cam.width, cam.height)
            else c for c in clip.cameras]
    note = (f"frames of {got[0]}x{got[1]} px where the camera table says {cam.width}x{cam.height} (e.g. clip "
            f"{clip.key}): within {SIZE_TOLERANCE_PX} px, the video's own size is used")
    return dataclasses.replace(stream, cameras=same), note


def image_cameras(clip: Clip) -> dict[int, int]:
    """{image index: camera index} of the clip's images (the camera of the first row showing each image)."""
    images, first = np.unique(np.asarray(clip.image, dtype=np.int64), return_index=True)
    return dict(zip(images.tolist(), np.asarray(clip.camera)[first].tolist(), strict=True))


def check_image_size(clip: Clip, img: np.ndarray, m: int, cam_index: int) -> None:
    """InputError if image `m` of the clip differs from its camera's size by more than SIZE_TOLERANCE_PX."""
    cam = clip.cameras[cam_index]
    got = (int(img.shape[1]), int(img.shape[0]))
    if max(abs(got[0] - cam.width), abs(got[1] - cam.height)) > SIZE_TOLERANCE_PX:
        raise _size_error(clip, got, cam_index, f"image {m}")
