"""Streaming decode of videos (PyAV) and image sequences (Pillow) into RGB uint8 frames.

Frames are decoded one at a time and only the requested ones are yielded; a video is never held in memory.
Every decode failure (missing, truncated, corrupt file, too few frames) raises `InputError` naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np
from av.codec.hwaccel import HWAccel
from PIL import Image

from schemas.errors import InputError

# Where a video's frames are decoded: "cpu" (PyAV's software decoders, the default and the fallback) or "cuda"
# (NVDEC through PyAV's hardware acceleration, the frames then copied to host memory). Image files always decode
# on the CPU (Pillow).
VIDEO_DECODES = ("cpu", "cuda")


def iter_video_frames(path: Path, indices: Sequence[int] | np.ndarray, decode: str = "cpu") -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames of `path` at the sorted, distinct 0-based `indices`, in order, decoded on
    `decode` (one of VIDEO_DECODES)."""
    path = Path(path)
    wanted = np.unique(np.asarray(indices, dtype=np.int64))
    if wanted.size == 0:
        return
    if wanted[0] < 0:
        raise ValueError(f"{path}: negative frame index {wanted[0]}")
    last, j, i = int(wanted[-1]), 0, -1
    try:
        with av.open(str(path), hwaccel=_hwaccel(decode)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream; re-export the video or remove it")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(container.decode(stream)):
                if i == wanted[j]:
                    yield frame.to_ndarray(format="rgb24")
                    j += 1
                    if i == last:
                        return
    except InputError:
        raise
    except (av.FFmpegError, OSError, ValueError) as e:
        if decode != "cpu":
            raise InputError(f"{path}: {decode} (NVDEC) decoding failed ({type(e).__name__}: {e}); rerun with "
                             "--video-decode cpu (PyAV software decoding)") from None
        raise InputError(f"{path}: cannot decode video ({type(e).__name__}: {e}); the file is truncated or "
                         "corrupt — re-download or re-encode it") from None
    raise InputError(f"{path}: video has only {i + 1} decodable frames but frame {last} is needed; the file is "
                     "truncated or shorter than its annotations — re-download it or exclude this clip")


def _hwaccel(decode: str) -> HWAccel | None:
    if decode not in VIDEO_DECODES:
        raise InputError(f"video decode {decode!r} is unknown; use one of {', '.join(VIDEO_DECODES)}")
    return None if decode == "cpu" else HWAccel(device_type=decode, allow_software_fallback=False)


def iter_image_files(paths: Sequence[Path], decode: str = "cpu") -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB images of `paths` in order (jpg/png via Pillow, on the CPU whatever `decode`
    asks: the same frame-source signature as `iter_video_frames`)."""
    for p in paths:
        try:
            with Image.open(p) as im:
                im.load()
                yield np.asarray(im.convert("RGB"))
        except (OSError, ValueError, SyntaxError) as e:
            raise InputError(f"{p}: cannot read image ({type(e).__name__}: {e}); the file is missing or corrupt") \
                from None


def video_fps(path: Path) -> float | None:
    """Frame rate (frames/s) of the first video stream, its average rate from the container header; None where
    the file records none or cannot be opened (decoding the clip then reports the file)."""
    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate
    except (av.FFmpegError, OSError, IndexError):
        return None
    return float(rate) if rate else None


def video_frame_count(path: Path) -> int:
    """Frames of the first video stream from the container header; 0 when the header does not say or the file does
    not open (decoding the clip then fails it, with the reason)."""
    try:
        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames or 0)
    except (av.FFmpegError, OSError, IndexError):
        return 0
