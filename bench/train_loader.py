"""Training-loader benchmark: how long the capf training loop waits on the loader, and batch samples/s read from
the store vs from an in-memory copy of the same arrays.

1. data-wait: `lifters.train.Trainer` at its default settings (batch 64, 1 loader worker, default capf) for
   --steps steps; data-wait fraction = time blocked in `next(loader)` / step time, steady state (the first batch
   of a pass, which includes worker start-up, is reported apart).
2. samples/s of `LiftingData` batches (random rows, --batch-size, all four levels, the same normalisation and
   reference-point code) in this process: Reader on the store vs the same arrays held in memory.

    .venv/bin/python bench/train_loader.py --cache STORE [--steps 30] [--repeats 20]
Prints the ratios and writes bench/out/train_loader.json.

3. `--null-model`: the loader's own capacity. The training step is replaced by a fixed sleep (--step-ms, 1 ms), the
   loader is `lifters.loader.make_loader` as training builds it (--workers, default from the cores available; pinned
   memory on CUDA), batches of --batch-size random train rows with all four levels; prints samples/s and the
   data-wait share (time blocked in `next(loader)` / step time, the first batch apart) and writes
   bench/out/train_loader_null.json. Only this part runs with --null-model.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lifters.config import TrainConfig
from lifters.data import LiftingData
from lifters.loader import BatchKeys, default_workers, make_loader
from lifters.train import Trainer
from storage.reader import ROW_FIELDS, Reader

OUT = Path(__file__).parent / "out"


class MemoryReader(Reader):
    """The same read API over arrays copied into memory once (all valid rows, maps and flipped maps)."""

    def __init__(self, reader: Reader) -> None:  # noqa: D107 - takes over an opened reader's metadata
        self.__dict__.update(reader.__getstate__())
        rows = reader.rows()
        self._pos = np.full(reader.num_rows, -1, np.int64)
        self._pos[rows] = np.arange(len(rows))
        self._mem = reader.read(rows, fields=ROW_FIELDS, maps=True)
        has_flip = bool(reader.group["backbones"][reader.backbone].attrs.get("flip", False))
        self._flip = reader.read(rows, fields=(), maps=True, flip=True) if has_flip else {}

    def read(self, rows, fields=ROW_FIELDS, maps=False, flip=False, joint_features=False, levels=None) -> dict:
        p = self._pos[np.asarray(rows, np.int64)]
        out = {"row": np.asarray(rows, np.int64), "camera": self._mem["camera"][p], "kp2d": self._mem["kp2d"][p]}
        out.update({f: self._mem[f][p] for f in fields})
        if maps:
            out.update({lv: (self._flip if flip else self._mem)[lv][p] for lv in (levels or self.levels)})
        return out


def batches_per_s(data: LiftingData, batch: int, repeats: int) -> float:
    keys = BatchKeys(len(data), batch, shuffle=True, seed=0, flip_p=0.0)
    data.batch(np.arange(min(batch, len(data))))  # warm (open, page cache)
    n, t0 = 0, time.perf_counter()
    for e in range(repeats):
        keys.set_epoch(e)
        for pos, flip in keys:
            n += len(data.batch(pos, flip)["row"])
    return n / (time.perf_counter() - t0)


def null_model(args: argparse.Namespace) -> dict:
    """Loader capacity with a fixed-time model step (see the module docstring, part 3)."""
    r = Reader(args.cache, backbone=args.backbone)
    data = LiftingData(r, r.rows(split="train"), maps=True)
    keys = BatchKeys(len(data), args.batch_size, shuffle=True, seed=0)
    keys.set_epoch(0, 0, steps=args.steps + 1)
    t_start = time.perf_counter()
    it = iter(make_loader(data, keys, args.workers, pin_memory=torch.cuda.is_available()))
    next(it)  # worker start-up: apart
    first = time.perf_counter() - t_start
    wait = total = 0.0
    for _ in range(args.steps):
        t0 = time.perf_counter()
        b = next(it)
        t1 = time.perf_counter()
        time.sleep(args.step_ms / 1e3)
        wait, total = wait + t1 - t0, total + time.perf_counter() - t0
    n = args.steps * args.batch_size
    res = {"store": args.cache, "backbone": r.backbone, "encoding": r.encoding.name, "workers": args.workers,
           "batch_size": args.batch_size, "steps": args.steps, "step_ms": args.step_ms, "first_batch_s": first,
           "samples_per_s": n / total, "data_wait_frac": wait / total, "levels": list(b["maps"]),
           "load_average": os.getloadavg()}
    print(f"null model ({args.step_ms} ms step), {args.workers} loader worker(s), batch {args.batch_size}, "
          f"{r.encoding.name}: {res['samples_per_s']:.0f} samples/s, data-wait {100 * res['data_wait_frac']:.1f}% "
          f"(first batch {first:.1f} s)")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=20, help="epochs of random batches for the samples/s part")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in the trainer (0: default)")
    ap.add_argument("--null-model", action="store_true", help="only part 3: the loader with a fixed-time step")
    ap.add_argument("--step-ms", type=float, default=1.0, help="--null-model: the model step's fixed time")
    ap.add_argument("--workers", type=int, default=default_workers(), help="--null-model: loader processes")
    ap.add_argument("--batch-size", type=int, default=256, help="--null-model: rows per batch")
    ap.add_argument("--backbone", default=None, help="--null-model: the backbone group (default: the only one)")
    args = ap.parse_args()
    if args.null_model:
        OUT.mkdir(exist_ok=True)
        (OUT / "train_loader_null.json").write_text(json.dumps(null_model(args), indent=2))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    defaults = TrainConfig(model="capf", cache=args.cache, out="")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(model="capf", cache=args.cache, out=tmp, max_steps=args.steps, eval_every=10 ** 9,
                          epochs=10 ** 6)
        t = Trainer(cfg, progress=False)
        t.fit()
        ev = [json.loads(x) for x in (Path(tmp) / "metrics_log.jsonl").read_text().splitlines()]
        ev = [e for e in ev if e["event"] == "eval"][-1]
    r = Reader(args.cache)
    rows = r.rows(split="train")
    store_sps = batches_per_s(LiftingData(r, rows, maps=True), defaults.batch_size, args.repeats)
    mem_sps = batches_per_s(LiftingData(MemoryReader(r), rows, maps=True), defaults.batch_size, args.repeats)
    res = {"store": args.cache, "train_rows": int(len(rows)), "batch_size": defaults.batch_size,
           "workers": defaults.workers, "steps": args.steps, "torch_threads": torch.get_num_threads(),
           "model": "capf (default config)",
           "data_wait_frac": ev["data_wait_frac"], "train_samples_per_s": ev["samples_per_s"],
           "first_batch_s": ev["first_batch_s"],
           "loader_samples_per_s_store": store_sps, "loader_samples_per_s_memory": mem_sps,
           "memory_over_store": mem_sps / store_sps}
    OUT.mkdir(exist_ok=True)
    (OUT / "train_loader.json").write_text(json.dumps(res, indent=2))
    print(f"capf training, defaults (batch {res['batch_size']}, {res['workers']} worker), {args.steps} steps: "
          f"data-wait {100 * res['data_wait_frac']:.2f}% of step time, {res['train_samples_per_s']:.1f} samples/s "
          f"(first batch {res['first_batch_s']:.1f} s)")
    print(f"batch reads in-process: store {store_sps:.0f} samples/s, memory {mem_sps:.0f} samples/s "
          f"(memory/store = {res['memory_over_store']:.2f}x)")
    print(f"-> {OUT / 'train_loader.json'}")


if __name__ == "__main__":
    main()
