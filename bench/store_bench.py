"""Store benchmark: random-access training reads from disk vs memory, write throughput, bytes vs raw fp16.

Maps are real: a random-init HRNet-W32 (mmpose) run over synthetic H36M frames (post-ReLU, many zeros), not
np.random. Each configuration (shard rows x codec) gets its own store of --rows rows built from that pool.
A training sample = 2D + 3D + all four levels; a batch = --batch random rows. Reads hit the OS page cache
(the files were just written): this measures the store's own overhead (index, decode, copies), not the disk.

    .venv/bin/python bench/store_bench.py [--rows 1024] [--batch 256] [--repeats 5]
Prints a markdown table and writes bench/out/store_bench.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from schemas.arrays import map_bytes_per_row
from schemas.camera import Camera
from storage.reader import Reader
from storage.store import Store

OUT = Path(__file__).parent / "out"
CAM = Camera(f=[1145.0, 1144.0], c=[512.5, 515.5], id="54138969")


def clip_rows(pool: dict, n: int, offset: int) -> dict[str, np.ndarray]:
    """GT row arrays of one clip, drawn from the pool's real GT."""
    src = (np.arange(n) + offset) % len(pool["s4"])
    return {"frame": np.arange(n, dtype=np.int32), "person": np.zeros(n, np.int32), "camera": np.zeros(n, np.int32),
            "valid": np.ones(n, bool), "bbox": np.tile(np.float32([100, 100, 600, 700]), (n, 1)),
            "affine": np.tile(np.float32([[0.4, 0, -40], [0, 0.4, -40]]), (n, 1, 1)),
            "kp2d_gt": pool["kp2d_gt"][src], "pose3d_cam": pool["pose3d_cam"][src]}
CODECS = ("none", "zstd1", "blosc-lz4", "blosc-zstd1", "blosc-zstd5")
SHARDS = (64, 256)


def map_pool(n_frames: int = 4) -> dict[str, np.ndarray]:
    """Real random-init HRNet-W32 maps of synthetic H36M crops (cached in bench/out/map_pool.npz)."""
    cache = OUT / "map_pool.npz"
    if cache.exists():
        return dict(np.load(cache))
    from flows.plan import make_plan
    from flows.work import BackboneRequest, ExtractOptions, process_clip
    from pipeline.synth import synth_dataset

    tmp = Path(tempfile.mkdtemp(prefix="ctxpose-pool-"))
    try:
        synth_dataset("h36m", tmp / "raw", subjects=["S1"], actions=["Walking"], frames=n_frames)
        req = BackboneRequest("hrnet32")
        plan = make_plan("h36m", tmp / "raw", tmp / "pool.zarr", req)
        for i, clip in plan.clips:
            process_clip(str(tmp / "pool.zarr"), "h36m", i, clip, req, ExtractOptions())
        r = Reader(tmp / "pool.zarr")
        data = r.read(r.rows(), maps=True)
        pool = {k: data[k] for k in ("s4", "s8", "s16", "s32", "kp2d_gt", "pose3d_cam")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **pool)
    return pool


def build(path: Path, pool: dict, rows: int, shard: int, codec: str, clip_len: int) -> tuple[float, float]:
    """Write `rows` rows in clips of `clip_len`; returns (seconds, per-clip seconds)."""
    levels = {k: pool[k].shape[1:] for k in ("s4", "s8", "s16", "s32")}
    st = Store.create(path)
    ds = st.create_dataset("h36m", "h36m17", shard_rows=shard)
    n_clips = rows // clip_len
    idx = ds.allocate([dict(subject="S1", action="Walking", subaction=str(i), camera=CAM.id, source="")
                       for i in range(n_clips)], [clip_len] * n_clips, [[CAM]] * n_clips)
    ds.add_backbone("hrnet32", levels, codec=codec)
    p = len(pool["s4"])
    t0 = time.perf_counter()
    for ci in idx:
        ds.write_clip(ci, clip_rows(pool, clip_len, ci))
        w = ds.backbone_writer("hrnet32", ci)
        for b in range(0, clip_len, 8):
            src = (np.arange(b, b + 8) + ci * 7) % p
            w.append({"kp2d": pool["kp2d_gt"][src], "kp2d_score": np.ones((8, 17), np.float32),
                      **{k: pool[k][src] for k in levels}})
        w.close()
    total = time.perf_counter() - t0
    return total, total / n_clips


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.name != "zarr.json")


def time_reads(fn, batches: list[np.ndarray]) -> float:
    fn(batches[0])  # warm-up (opens, caches)
    t0 = time.perf_counter()
    for b in batches[1:]:
        fn(b)
    return (len(batches) - 1) * len(batches[0]) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--clip-len", type=int, default=128)
    args = ap.parse_args()
    pool = map_pool()
    levels = {k: pool[k].shape[1:] for k in ("s4", "s8", "s16", "s32")}
    raw_row = map_bytes_per_row(levels)
    zeros = float(np.mean([np.mean(pool[k] == 0) for k in levels]))
    print(f"map pool: {len(pool['s4'])} real HRNet-W32 rows, {raw_row:,} B/row raw fp16, {zeros:.1%} exact zeros")
    rng = np.random.default_rng(0)
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="ctxpose-bench-"))
    try:
        for shard in SHARDS:
            for codec in CODECS:
                path = tmp / f"{shard}-{codec}.zarr"
                seconds, per_clip = build(path, pool, args.rows, shard, codec, args.clip_len)
                r = Reader(path)
                rows = r.rows()
                batches = [rng.choice(rows, args.batch, replace=False) for _ in range(args.repeats + 1)]
                disk = time_reads(lambda b, r=r: r.read(b, fields=("kp2d_gt", "pose3d_cam"), maps=True), batches)
                # the same rows as one in-memory numpy copy, read with the same fancy indexing
                mem = r.read(np.arange(r.num_rows), fields=("kp2d_gt", "pose3d_cam"), maps=True)
                memory = time_reads(lambda b, m=mem: {k: m[k][b] for k in ("kp2d_gt", "pose3d_cam", *levels)},
                                    batches)
                maps_bytes = sum(dir_bytes(path / f"h36m/backbones/hrnet32/{k}") for k in levels)
                res = {"shard_rows": shard, "codec": codec, "bytes_per_row": maps_bytes / len(rows),
                       "ratio_vs_raw_fp16": maps_bytes / (len(rows) * raw_row),
                       "write_MBps": len(rows) * raw_row / seconds / 1e6, "write_s_per_clip": per_clip,
                       "clip_rows": args.clip_len, "disk_samples_per_s": disk, "memory_samples_per_s": memory,
                       "disk_vs_memory": disk / memory, "files": sum(1 for _ in path.rglob("*") if _.is_file())}
                results.append(res)
                print(f"shard {shard:4d} {codec:12s} {res['ratio_vs_raw_fp16']:.3f}x raw  "
                      f"write {res['write_MBps']:6.1f} MB/s  read disk {disk:7.0f}/s mem {memory:7.0f}/s "
                      f"-> {res['disk_vs_memory']:.2f}", flush=True)
                shutil.rmtree(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {"rows": args.rows, "batch": args.batch, "repeats": args.repeats, "raw_fp16_bytes_per_row": raw_row,
            "pool_rows": len(pool["s4"]), "zero_fraction": zeros, "date": time.strftime("%Y-%m-%d")}
    (OUT / "store_bench.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print("\n| shards | codec | bytes/row | vs raw fp16 | write MB/s | s/clip | disk samples/s | memory samples/s "
          "| disk/memory |\n|---|---|---|---|---|---|---|---|---|")
    for x in results:
        print(f"| {x['shard_rows']} | {x['codec']} | {x['bytes_per_row']:,.0f} | {x['ratio_vs_raw_fp16']:.3f} | "
              f"{x['write_MBps']:.0f} | {x['write_s_per_clip']:.2f} | {x['disk_samples_per_s']:.0f} | "
              f"{x['memory_samples_per_s']:.0f} | {x['disk_vs_memory']:.2f} |")


if __name__ == "__main__":
    main()
