"""Full-dataset-size simulation: a store of >= 200k rows of realistic HRNet-W32 maps, written without the backbone,
and how open / info / check / random reads / training data-wait scale from 20k to 200k rows.

Rows: a pool of real random-init HRNet-W32 rows (maps, backbone 2D, GT 2D/3D, boxes, affines) is read from an
extracted store (--pool-store, default /work/bigdata/store.zarr); every written row is a randomly drawn pool row,
horizontally mirrored with p=0.5 (its maps' W axis; so no two shards are byte-identical), its 2D/3D jittered by a
few px/mm. Maps are bit-rounded to --keepbits fp16 mantissa bits before writing (lossless default codec at 200k
rows would need ~44 GB; this disk is shared) and written with --codec through the store's normal write path
(`DatasetGroup.allocate`, `write_clip`, `backbone_writer`). Clips: H36M subjects/actions/cameras (built-in camera
table), 1000-5000 rows each, growing one store 20k -> 200k rows, measured at each size.

Measured at each size (each in a fresh subprocess where it matters):
- files and bytes on disk; open time: `Store.open` + `Reader(...)` and the train index table (`rows(split=train)`);
- `pipeline info --json` and `pipeline check` wall time (real CLI processes);
- random-read samples/s: batches of 64 random train rows, maps + 2D + 3D, via `LiftingData` over the `Reader`
  (what training reads), page cache dropped for the store's files first ("cold") and repeated ("hot");
- data-wait fraction of a tiny capf training loop (bench/train_loader.py's measure: `Trainer`, 1 loader worker).

    nice -n 5 .venv/bin/python bench/size_sim.py --store /tmp/scale_sim.zarr --sizes 20000,200000 [--keep]
grows one store and measures at each size; writes bench/out/size_sim.json; deletes the store unless --keep.
What docs/benchmarks.md reports was run as separate steps (two stores, reads compared in interleaved rounds):
    size_sim.py --store /tmp/scale_sim_20k.zarr --sizes 20000 --build-only     (likewise 200k, 200000)
    size_sim.py --store /tmp/scale_sim_20k.zarr --measure-only --label after   (likewise 200k)
    size_sim.py --compare-reads /tmp/scale_sim_20k.zarr,/tmp/scale_sim_200k.zarr --batches 100 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lifters.config import TrainConfig  # noqa: E402
from lifters.data import LiftingData  # noqa: E402
from lifters.train import Trainer  # noqa: E402
from pipeline.datasets.h36m_cameras import CAMERA_IDS, builtin_camera  # noqa: E402
from storage.reader import ROW_FIELDS, Reader  # noqa: E402
from storage.store import Store  # noqa: E402

OUT = Path(__file__).parent / "out"
BIN = Path(sys.executable).parent
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases", "Sitting",
           "SittingDown", "Smoking", "Photo", "Waiting", "Walking", "WalkDog", "WalkTogether")
SUBJECT_ORDER = ("S1", "S9", "S5", "S6", "S11", "S7", "S8")
H36M_ROWS = 2_100_000  # full Human3.6M at 50 fps, 4 cameras (person-frames), for the extrapolation


# ---------- the row pool ----------
def bitround_f16(a: np.ndarray, keepbits: int) -> np.ndarray:
    """Round fp16 values to `keepbits` of the 10 mantissa bits (round half up on the magnitude bits), same shape."""
    if keepbits >= 10:
        return a
    drop = 10 - keepbits
    u = np.ascontiguousarray(a, dtype=np.float16).view(np.uint16)
    return ((u + np.uint16(1 << (drop - 1))) & np.uint16((0xFFFF << drop) & 0xFFFF)).view(np.float16)


def load_pool(path: str, n: int, keepbits: int, seed: int = 0) -> dict[str, np.ndarray]:
    """n real rows of `path` (its only backbone): maps bit-rounded, backbone kp2d/score, GT rows. (n, ...) arrays."""
    r = Reader(path)
    bb = r.backbone
    r_bb = Reader(path, backbone=bb, keypoints=bb)
    rows = r.rows()
    rows = np.sort(np.random.default_rng(seed).choice(rows, min(n, len(rows)), replace=False))
    pool = r_bb.read(rows, fields=ROW_FIELDS, maps=True)
    for lv in r.levels:
        pool[lv] = bitround_f16(pool[lv], keepbits)
    pool["levels"] = r.levels
    return pool


# ---------- writing ----------
def plan_clips(n_have: int, n_target: int, k_have: int, rng: np.random.Generator) -> list[tuple[dict, int]]:
    """(meta, length) of the clips that grow the store from n_have to >= n_target rows; H36M names, 1000-5000 rows.
    Subjects cycle over the 7 annotated ones (a test subject second) so train and test both grow."""
    out, n, k = [], n_have, k_have
    while n < n_target:
        subj = SUBJECT_ORDER[k % len(SUBJECT_ORDER)]
        act = ACTIONS[(k // len(SUBJECT_ORDER)) % len(ACTIONS)]
        rest = k // (len(SUBJECT_ORDER) * len(ACTIONS))
        cam, sub = CAMERA_IDS[rest % 4], str(1 + rest // 4)
        length = int(min(rng.integers(1000, 5001), max(n_target - n, 64)))
        out.append((dict(subject=subj, action=act, subaction=sub, camera=cam,
                         source=f"{subj}/Videos/{act} {sub}.{cam}.mp4"), length))
        n += -(-length // 64) * 64
        k += 1
    return out


def write_clip(ds, backbone: str, ci: int, pool: dict, rng: np.random.Generator) -> None:
    """One clip: GT rows and backbone rows drawn from the pool (shard-sized batches, mirrored maps p=0.5)."""
    c = ds.clip(ci)
    pick = rng.integers(0, len(pool["row"]), c.length)
    jit = rng.normal(0, 2.0, (c.length, *pool["kp2d_gt"].shape[1:])).astype(np.float32)
    ds.write_clip(ci, {"frame": np.arange(c.length, dtype=np.int32), "person": np.zeros(c.length, np.int32),
                       "camera": np.zeros(c.length, np.int32), "valid": np.ones(c.length, bool),
                       "bbox": pool["bbox"][pick], "affine": pool["affine"][pick],
                       "kp2d_gt": pool["kp2d_gt"][pick] + jit,
                       "pose3d_cam": pool["pose3d_cam"][pick] + rng.normal(0, 5.0, (c.length, *pool[
                           "pose3d_cam"].shape[1:])).astype(np.float32)})
    w = ds.backbone_writer(backbone, ci)
    shard = ds.shard_rows
    for b in range(0, c.length, shard):
        p = pick[b:b + shard]
        mirror = rng.random(len(p)) < 0.5
        batch = {"kp2d": pool["kp2d"][p] + jit[b:b + shard], "kp2d_score": pool["kp2d_score"][p]}
        for lv in pool["levels"]:
            m = pool[lv][p]
            m[mirror] = m[mirror][..., ::-1]
            batch[lv] = m
        w.append(batch)
    w.close()


def grow(path: Path, n_target: int, pool: dict, args) -> float:
    """Grow (or create) the simulated store to >= n_target rows; returns seconds spent writing. The clips are
    allocated here, then written by `args.procs` writer processes (disjoint clips, as Dask workers would)."""
    t0 = time.perf_counter()
    store = Store.create(path)
    ds = store.create_dataset("h36m", "h36m17", fps=50.0, source_root="(size simulation)")
    if "hrnet32" not in ds.backbones():
        ds.add_backbone("hrnet32", pool["levels"], codec=args.codec,
                        attrs={"random_init": True, "simulated": "bench/size_sim.py: pooled real rows, bit-rounded"})
    k_have = len(ds.clips())
    plan = plan_clips(ds.n_rows, n_target, k_have, np.random.default_rng(k_have))
    idx = ds.allocate([m for m, _ in plan], [n for _, n in plan],
                      [[builtin_camera(m["subject"], m["camera"])] for m, _ in plan])
    parts = [idx[i::args.procs] for i in range(args.procs)]
    procs = [subprocess.Popen([sys.executable, __file__, "--store", str(path), "--pool-store", args.pool_store,
                               "--pool", str(args.pool), "--keepbits", str(args.keepbits),
                               "--write-clips", ",".join(map(str, part))]) for part in parts if part]
    if any(p.wait() for p in procs):
        raise RuntimeError("a writer process failed")
    Store.open(path, mode="r+").consolidate()
    return time.perf_counter() - t0


def write_clips(path: Path, clips: list[int], pool: dict) -> None:
    """Writer process: write the given (allocated) clips from the pool."""
    ds = Store.open(path, mode="r+").dataset("h36m")
    t0 = time.perf_counter()
    for i, ci in enumerate(clips):
        write_clip(ds, "hrnet32", ci, pool, np.random.default_rng(ci))
        print(f"  [{os.getpid()}] clip {i + 1}/{len(clips)} ({ds.clip(ci).length} rows) "
              f"{time.perf_counter() - t0:.0f} s", flush=True)


# ---------- measuring ----------
def disk_usage(path: Path) -> tuple[int, int]:
    """(files, bytes) below path."""
    files = total = 0
    for d, _, names in os.walk(path):
        for n in names:
            files += 1
            total += os.path.getsize(os.path.join(d, n))
    return files, total


def drop_cache(path: Path) -> None:
    """Evict the store's own files from the page cache (POSIX_FADV_DONTNEED; affects no other file)."""
    for d, _, names in os.walk(path):
        for n in names:
            fd = os.open(os.path.join(d, n), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def measure_open(path: str) -> dict:
    """Seconds for Store.open + Reader construction, the train/test index tables, and one 64-row batch."""
    t0 = time.perf_counter()
    Store.open(path)
    r = Reader(path)
    t1 = time.perf_counter()
    rows = r.rows(split="train")
    r.rows(split="test")
    t2 = time.perf_counter()
    data = LiftingData(r, rows, maps=True)
    data.batch(np.arange(64))
    t3 = time.perf_counter()
    return {"open_s": t1 - t0, "index_s": t2 - t1, "first_batch_s": t3 - t2, "train_rows": int(len(rows))}


def timed(args: list[str], timeout: float = 3600) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                       env={**os.environ, "COLUMNS": "200"})
    return {"s": time.perf_counter() - t0, "rc": p.returncode, "tail": (p.stdout + p.stderr)[-300:]}


def read_rate(path: Path, batches: int, batch: int = 64, seed: int = 1) -> dict:
    """samples/s of random 64-row train batches (maps + 2D + 3D) via LiftingData over the Reader: cold (store files
    evicted from the page cache first) and hot (the same batches again)."""
    r = Reader(path)
    data = LiftingData(r, r.rows(split="train"), maps=True)
    rng = np.random.default_rng(seed)
    pos = [rng.integers(0, len(data), batch) for _ in range(batches)]
    out = {}
    drop_cache(path)
    for name in ("cold", "hot"):
        t0 = time.perf_counter()
        for p in pos:
            data.batch(p)
        out[f"samples_per_s_{name}"] = batches * batch / (time.perf_counter() - t0)
    return out


def compare_reads(paths: list[Path], batches: int, rounds: int) -> dict:
    """read_rate of each store, interleaved over `rounds` (the shared machine's load drifts): per store the
    per-round cold/hot samples/s and their medians."""
    out: dict = {str(p): {"cold": [], "hot": []} for p in paths}
    for k in range(rounds):
        for p in paths:
            r = read_rate(p, batches, seed=1 + k)
            out[str(p)]["cold"].append(r["samples_per_s_cold"])
            out[str(p)]["hot"].append(r["samples_per_s_hot"])
    for v in out.values():
        v["cold_median"], v["hot_median"] = float(np.median(v["cold"])), float(np.median(v["hot"]))
    return out


class NoEvalTrainer(Trainer):
    """The real Trainer minus the test-split evaluation (at 200k rows one eval pass would dwarf the steps timed)."""

    def evaluate(self) -> float:
        return 0.0


def data_wait(path: Path, steps: int) -> dict:
    """data-wait fraction (steady state) of a tiny capf loop: batch 64, 1 loader worker, dim 32, depth 1."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="scale_dw_") as tmp:
        cfg = TrainConfig(model="capf", cache=str(path), out=tmp, max_steps=steps, eval_every=10 ** 9,
                          epochs=10 ** 6, model_cfg={"dim": 32, "depth": 1, "heads": 4})
        NoEvalTrainer(cfg, progress=False).fit()
        ev = [json.loads(x) for x in (Path(tmp) / "metrics_log.jsonl").read_text().splitlines()]
    ev = [e for e in ev if e["event"] == "eval"][-1]
    return {"data_wait_frac": ev["data_wait_frac"], "train_samples_per_s": ev["samples_per_s"],
            "train_first_batch_s": ev["first_batch_s"], "steps": steps}


def measure(path: Path, args) -> dict:
    files, nbytes = disk_usage(path)
    res: dict = {"files": files, "bytes": nbytes}
    drop_cache(path)
    sub = subprocess.run([sys.executable, __file__, "--measure-open", str(path)], capture_output=True, text=True,
                         check=True)
    res["cold"] = json.loads(sub.stdout.strip().splitlines()[-1])
    sub = subprocess.run([sys.executable, __file__, "--measure-open", str(path)], capture_output=True, text=True,
                         check=True)
    res["warm"] = json.loads(sub.stdout.strip().splitlines()[-1])
    res["info"] = timed([str(BIN / "pipeline"), "info", str(path), "--json"])
    res["check"] = timed([str(BIN / "pipeline"), "check", str(path)])
    res.update(read_rate(path, args.batches))
    res.update(data_wait(path, args.steps))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default="/tmp/scale_sim.zarr")
    ap.add_argument("--sizes", default="20000,200000", help="row counts to grow to and measure at")
    ap.add_argument("--pool-store", default="/work/bigdata/store.zarr")
    ap.add_argument("--pool", type=int, default=1024, help="real rows in the pool")
    ap.add_argument("--keepbits", type=int, default=2, help="fp16 mantissa bits kept (10: none dropped)")
    ap.add_argument("--codec", default="blosc-zstd1")
    ap.add_argument("--batches", type=int, default=40, help="random 64-row batches for the read rate")
    ap.add_argument("--steps", type=int, default=12, help="training steps for the data-wait")
    ap.add_argument("--keep", action="store_true", help="keep the store")
    ap.add_argument("--build-only", action="store_true", help="grow the store to the last of --sizes; no measures")
    ap.add_argument("--measure-only", action="store_true", help="measure the existing --store as it is")
    ap.add_argument("--label", default="", help="key suffix in the results JSON (e.g. before/after a fix)")
    ap.add_argument("--procs", type=int, default=2, help="writer processes")
    ap.add_argument("--compare-reads", help="comma-separated stores: interleaved read rates only")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of --compare-reads")
    ap.add_argument("--measure-open", help=argparse.SUPPRESS)
    ap.add_argument("--write-clips", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_clips:
        write_clips(Path(args.store), [int(x) for x in args.write_clips.split(",")],
                    load_pool(args.pool_store, args.pool, args.keepbits))
        return
    if args.measure_open:
        print(json.dumps(measure_open(args.measure_open)))
        return
    store = Path(args.store)
    OUT.mkdir(exist_ok=True)
    res_path = OUT / "size_sim.json"
    res = json.loads(res_path.read_text()) if res_path.exists() else {"sizes": {}}
    if args.compare_reads:
        res["read_compare"] = cmp = compare_reads([Path(p) for p in args.compare_reads.split(",")], args.batches,
                                                  args.rounds)
        res_path.write_text(json.dumps(res, indent=2))
        print(json.dumps(cmp, indent=1))
        return
    if args.measure_only:
        rows = Store.open(store).dataset("h36m").n_rows
        m = {"rows": rows, **measure(store, args)}
        res["sizes"][f"{rows}{'-' + args.label if args.label else ''}"] = m
        res_path.write_text(json.dumps(res, indent=2))
        print(json.dumps(m, indent=1))
        return
    if store.exists():
        shutil.rmtree(store)
    t0 = time.perf_counter()
    pool = load_pool(args.pool_store, args.pool, args.keepbits)
    print(f"pool: {len(pool['row'])} rows of {args.pool_store} in {time.perf_counter() - t0:.0f} s", flush=True)
    res.update({"pool_store": args.pool_store, "pool_rows": int(len(pool["row"])), "keepbits": args.keepbits,
                "codec": args.codec, "batch": 64})
    sizes = [int(x) for x in args.sizes.split(",")]
    try:
        for n in sizes[-1:] if args.build_only else sizes:
            write_s = grow(store, n, pool, args)
            rows = Store.open(store).dataset("h36m").n_rows
            print(f"{rows} rows written in {write_s:.0f} s", flush=True)
            res.setdefault("write", {})[str(rows)] = {"write_s": write_s, "rows_per_s": rows / write_s}
            if not args.build_only:
                res["sizes"][str(rows)] = m = {"rows": rows, **measure(store, args)}
                print(json.dumps(m, indent=1), flush=True)
            res_path.write_text(json.dumps(res, indent=2))
    finally:
        if not (args.keep or args.build_only):
            shutil.rmtree(store, ignore_errors=True)
    print(f"-> {res_path}")


if __name__ == "__main__":
    main()
