"""When a run writes its checkpoints: `last.pt` (weights, optimizer, RNG: what --resume reads) at the first
evaluation, then at most every `every_s` seconds, and always at the end and on Ctrl-C; `best.pt` (weights only,
the lowest test P1) with it whenever the best improved since the last write. Short epochs therefore no longer
write a 171 MB capf checkpoint each (a kill -9 loses at most `every_s` of training)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lifters.checkpoint import save_checkpoint

CHECKPOINT_EVERY_S = 60.0
RESUME_ONLY = ("optimizer", "rng")


class RunSaver:
    """Writes `out`/last.pt and `out`/best.pt from payloads made by `payload()` (the Trainer's `_payload`)."""

    def __init__(self, out: Path, payload: Callable[[], dict[str, Any]], every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.out, self.payload, self.every_s = Path(out), payload, every_s
        self._saved_at: float | None = None
        self._best: dict[str, Any] | None = None  # the best model's weights-only payload, not yet written

    def improved(self) -> None:
        """The model now has the best test P1: keep a copy of its weights-only payload for the next write."""
        p = self.payload()
        self._best = {**{k: v for k, v in p.items() if k not in RESUME_ONLY},
                      "weights": {k: v.detach().clone() for k, v in p["weights"].items()}}

    def save(self, force: bool = False) -> None:
        """Write last.pt (and a pending best.pt) if forced, never written yet, or `every_s` since the last write."""
        now = time.monotonic()
        if not force and self._saved_at is not None and now - self._saved_at < self.every_s:
            return
        save_checkpoint(self.out / "last.pt", self.payload())
        if self._best is not None:
            save_checkpoint(self.out / "best.pt", self._best)
            self._best = None
        self._saved_at = now
