"""The one check of a temporal window length T (frames per sample, centred on its target frame)."""

from __future__ import annotations

from schemas.errors import InputError


def check_window(frames: int) -> int:
    """`frames` as an int; InputError naming --frames unless it is odd and >= 1 (the target frame is the centre)."""
    if int(frames) < 1 or int(frames) % 2 == 0:
        raise InputError(f"--frames must be an odd number >= 1 (the window is centred on its frame), got {frames}")
    return int(frames)
