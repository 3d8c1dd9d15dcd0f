"""The one check of a torch device name ('cpu', 'cuda', 'cuda:N'), shared by extraction and training."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.errors import UsageError

if TYPE_CHECKING:
    import torch

DEVICE_KINDS = ("cpu", "cuda")


def check_device(device: str, option: str = "--device") -> torch.device:
    """Parse `device`; UsageError (naming `option`) if unknown, or CUDA is asked for but absent or out of range."""
    import torch  # lazy: `pipeline --help` and argument checks stay fast

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"{option} {device!r} is not a device; use 'cpu' or 'cuda[:N]'") from None
    if dev.type not in DEVICE_KINDS:
        raise UsageError(f"{option} {device!r} is not supported; use 'cpu' or 'cuda[:N]'")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"{option} {device!r}: CUDA is not available on this machine "
                             f"(torch.cuda.is_available() is False); use {option} cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"{option} {device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    return dev
