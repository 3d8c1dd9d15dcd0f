"""Ctrl-C (SIGINT) as a request to stop at the next step boundary, so a trainer can save a consistent checkpoint."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """Within `with StopRequest() as stop:` a SIGINT sets `stop.requested` instead of raising KeyboardInterrupt
    (main thread only; elsewhere it never fires); the previous handler is restored on exit."""

    def __init__(self) -> None:
        self.requested = False
        self._old = None

    def _set(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._set)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def ignore_sigint(_worker_id: int) -> None:
    """DataLoader `worker_init_fn`: loader processes ignore Ctrl-C, which the training process turns into a saved
    checkpoint (a worker killed by it would break the loader mid-batch)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
