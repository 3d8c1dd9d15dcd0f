"""Readers side by side on one store, the same random batches, one core: tensorstore (`zarr3` driver, one batched
index read per level, the four levels issued concurrently), storage/rowread.py (the same through the Reader's
code: sorted distinct rows), zarr-python (`oindex`), an in-memory numpy copy, and the hand-written
storage/fastread.py where it exists (it was deleted after this comparison: run at commit 045d3fc to include it).
Every reader's values are asserted equal to the first one's.

The store: bench/node_budget.py's (64-row clips of real random-init HRNet-W32 maps, one backbone group per
encoding). Rates are samples/s of the four map levels (CPU time per sample in core-ms beside them), medians of
--repeats interleaved rounds of --batches batches.

    .venv/bin/python bench/readers_bench.py [--batch 32] [--encoding bitround-2] [--zarr-batches 1]
Writes bench/out/readers_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from node_budget import OUT, make_store, material, pin_one_core  # same directory

LEVELS = ("s4", "s8", "s16", "s32")


def readers(store: Path, group: str) -> dict:
    import tensorstore as ts
    import zarr

    from storage.rowread import RowArrays

    base = f"h36m/backbones/{group}"
    io = RowArrays(store)
    spec = {lv: {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(store / base / lv)}} for lv in LEVELS}
    tsa = {lv: ts.open(spec[lv], read=True).result() for lv in LEVELS}
    za = {lv: zarr.open_array(str(store / base / lv), mode="r") for lv in LEVELS}
    mem = {lv: io.whole(f"{base}/{lv}") for lv in LEVELS}

    def ts_read(rows: np.ndarray) -> dict:
        futs = {lv: tsa[lv][rows].read() for lv in LEVELS}  # all four levels in flight together
        return {lv: f.result() for lv, f in futs.items()}

    def zarr_read(rows: np.ndarray) -> dict:
        u, inv = np.unique(rows, return_inverse=True)
        return {lv: za[lv].oindex[u][inv] for lv in LEVELS}

    def reader_read(rows: np.ndarray) -> dict:  # what storage.reader.Reader does for maps
        got = io.read({f"{base}/{lv}": rows for lv in LEVELS})
        return {lv: got[f"{base}/{lv}"] for lv in LEVELS}

    out = {"tensorstore": ts_read, "storage.rowread": reader_read, "zarr": zarr_read,
           "memory": lambda rows: {lv: mem[lv][rows] for lv in LEVELS}}
    try:  # the hand-written reader, deleted in issue 14: present when run at commit 045d3fc or before
        from storage.fastread import FastArray

        fast = {lv: FastArray.open(store, f"{base}/{lv}") for lv in LEVELS}
        out = {"fastread": lambda rows: {lv: fast[lv].read(rows) for lv in LEVELS}, **out}
    except ImportError:
        pass
    return out


def main() -> None:
    from storage.codecs import DEFAULT_MAP_CODEC

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=8, help="batches per round")
    ap.add_argument("--zarr-batches", type=int, default=1, help="zarr-python is slow: batches per round for it")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--encoding", default=DEFAULT_MAP_CODEC)
    args = ap.parse_args()
    pin_one_core(max(os.sched_getaffinity(0)))

    m = material(32)
    load0 = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="ctxpose-readers-"))
    try:
        make_store(tmp / "r.zarr", m, args.clips, [args.encoding], fill=True)
        fns = readers(tmp / "r.zarr", f"bb-{args.encoding}")
        rng = np.random.default_rng(0)
        n = args.clips * 64
        check = rng.choice(n, args.batch)
        ref = next(iter(fns.values()))(check)
        for name, fn in fns.items():
            got = fn(check)
            assert all(np.array_equal(got[lv], ref[lv]) for lv in LEVELS), name
        res: dict = {k: [] for k in fns}
        for _ in range(args.repeats):
            for name, fn in fns.items():
                k = args.zarr_batches if name == "zarr" else args.batches
                batches = [rng.choice(n, args.batch, replace=False) for _ in range(k)]
                c0, w0 = time.process_time(), time.perf_counter()
                for b in batches:
                    fn(b)
                c, w = time.process_time() - c0, time.perf_counter() - w0
                res[name].append((k * args.batch / w, c * 1e3 / (k * args.batch)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {name: {"samples_per_s": statistics.median(x[0] for x in v), "core_ms": statistics.median(x[1] for x in v),
                  "samples_per_s_all": [round(x[0]) for x in v]} for name, v in res.items()}
    load = [load0, os.getloadavg()]
    print(f"store {args.clips * 64} rows, {args.encoding}, batches of {args.batch} random rows, four levels, one "
          f"core; tensorstore {version('tensorstore')}; load average {load[0][0]:.1f} -> {load[1][0]:.1f}\n")
    first = next(iter(out))
    print(f"| reader | samples/s (wall) | core-ms/sample | vs {first} (core-ms) |\n|---|---|---|---|")
    for name, v in out.items():
        print(f"| {name} | {v['samples_per_s']:,.0f} | {v['core_ms']:.3f} | "
              f"{out[first]['core_ms'] / v['core_ms']:.2f}x |")
    OUT.mkdir(exist_ok=True)
    (OUT / "readers_bench.json").write_text(json.dumps({"args": vars(args), "load": load, "readers": out,
                                                        "tensorstore": version("tensorstore")}, indent=2))


if __name__ == "__main__":
    main()
