"""Loaders over `lifters.data.LiftingData`: the batch keys (`BatchKeys`: seeded order and flips per epoch, resumable
mid-epoch) and the DataLoader (`make_loader`: forkserver/spawn workers, never fork), with the default worker count."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from lifters.data import BatchKey, LiftingData
from lifters.interrupt import ignore_sigint
from schemas.errors import InputError


class BatchKeys(Sampler):
    """Yields `(positions, flip)` batch keys over n items: a seeded permutation per epoch (`shuffle`), flip
    flags drawn with probability `flip_p` (0: none, 1: all), both pure functions of (seed, epoch).

    `set_epoch(e, start, steps)` makes the next pass start at batch `start` of epoch `e` and run to the end of
    that epoch, or, with `steps`, run exactly `steps` batches on across epoch boundaries (one pass for a whole
    training run: the loader's prefetch never drains between epochs). A resumed run thus sees exactly the
    batches it would have seen."""

    def __init__(self, n: int, batch_size: int, shuffle: bool = True, seed: int = 0, flip_p: float = 0.0) -> None:
        if batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {batch_size}")
        if not 0.0 <= flip_p <= 1.0:
            raise InputError(f"flip probability must be in [0, 1], got {flip_p}")
        self.n, self.batch_size, self.shuffle, self.seed, self.flip_p = n, batch_size, shuffle, seed, flip_p
        self.epoch, self.start, self.steps = 0, 0, None

    @property
    def batches_per_epoch(self) -> int:
        return -(-self.n // self.batch_size)

    def set_epoch(self, epoch: int, start: int = 0, steps: int | None = None) -> None:
        self.epoch, self.start, self.steps = int(epoch), int(start), steps

    def __len__(self) -> int:
        return self.steps if self.steps is not None else max(0, self.batches_per_epoch - self.start)

    def epoch_keys(self, epoch: int) -> list[BatchKey]:
        """All batch keys of one epoch."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        if self.flip_p >= 1.0:
            flips = np.ones(self.n, bool)
        elif self.flip_p > 0.0:
            flips = rng.random(self.n) < self.flip_p
        else:
            flips = np.zeros(self.n, bool)
        bs = self.batch_size
        return [(order[b * bs:(b + 1) * bs], flips[b * bs:(b + 1) * bs]) for b in range(self.batches_per_epoch)]

    def __iter__(self) -> Iterator[BatchKey]:
        epoch, b, left = self.epoch, self.start, len(self)
        while left > 0:
            keys = self.epoch_keys(epoch)
            for key in keys[b:b + left]:
                yield key
                left -= 1
            epoch, b = epoch + 1, 0


def default_workers() -> int:
    """Loader processes by default: one per core this process may use, less one for the training loop, 1..8
    (1 on a 2-core machine; 8 on a 16-core GPU node, where the loader costs ~1 core-ms per sample:
    docs/benchmarks.md "Node budget")."""
    return max(1, min(8, len(os.sched_getaffinity(0)) - 1))


# Imported once by the forkserver, so each loader worker forks with them loaded instead of importing torch, zarr
# and tensorstore itself (~4 s per worker on a small CPU; only imported there, never used: nothing to inherit).
FORKSERVER_PRELOAD = ["lifters.data"]


def worker_context() -> multiprocessing.context.BaseContext:
    """Start method for loader workers: forkserver on Linux (no inherited zarr/tensorstore threads; the modules a
    worker needs preloaded in the server), else spawn."""
    if not sys.platform.startswith("linux"):
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(FORKSERVER_PRELOAD)
    return ctx


def make_loader(data: LiftingData, keys: BatchKeys, workers: int = 0, pin_memory: bool = False,
                seed: int = 0) -> DataLoader:
    """A DataLoader yielding ready batches; `workers` > 0 start persistent forkserver/spawn processes.

    Its own seeded generator keeps the global torch RNG untouched (so resumed runs stay bitwise identical)."""
    if workers < 0:
        raise InputError(f"--workers must be >= 0, got {workers}")
    kw: dict = {}
    if workers > 0:
        kw = {"multiprocessing_context": worker_context(), "persistent_workers": True, "prefetch_factor": 2,
              "worker_init_fn": ignore_sigint}  # Ctrl-C is the trainer's to handle (it saves a checkpoint)
    return DataLoader(data, batch_size=None, sampler=keys, num_workers=workers, pin_memory=pin_memory,
                      generator=torch.Generator().manual_seed(seed), **kw)
