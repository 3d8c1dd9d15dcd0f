"""Writers of the raw media formats through real codecs (PyAV / Pillow)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def pick_codec(preferred: tuple[str, ...]) -> str:
    """The first encoder of `preferred` this PyAV build has."""
    for name in preferred:
        try:
            av.codec.Codec(name, "w")
            return name
        except (av.FFmpegError, ValueError):
            continue
    raise RuntimeError(f"none of the encoders {preferred} is available in this PyAV build")


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int, kind: str = "mp4") -> int:
    """Encode (H, W, 3) uint8 RGB frames: kind 'mp4' -> H.264 (libx264, else mpeg4); 'avi' -> mjpeg (else mpeg4).

    Returns the number of frames written. H and W must be even (yuv420p).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = pick_codec(("libx264", "mpeg4") if kind == "mp4" else ("mjpeg", "mpeg4"))
    n = 0
    with av.open(str(path), "w") as container:
        stream = None
        for img in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=Fraction(fps))
                stream.height, stream.width = img.shape[:2]
                stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
                if codec == "libx264":
                    stream.options = {"crf": "17", "preset": "ultrafast"}
                elif codec == "mjpeg":
                    stream.codec_context.qmin, stream.codec_context.qmax = 2, 3
                else:
                    stream.bit_rate = 8_000_000
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                container.mux(packet)
            n += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return n


def write_jpeg(path: Path, img: np.ndarray, quality: int = 92) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, quality=quality)
