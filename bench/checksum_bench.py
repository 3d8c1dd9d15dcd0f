"""What the per-chunk crc32c costs: core-ms per row to encode (write), decode (read) and verify (`pipeline check`),
with and without checksums, on HRNet-W32-shaped maps (post-ReLU, default bitround-2 encoding).

    .venv/bin/python bench/checksum_bench.py [--rows 512] [--repeats 3]
Prints a markdown table (docs/benchmarks.md "Checksums"). Times are process CPU time (all threads) per row.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from schemas.camera import Camera
from storage import layout
from storage.audit import check_store
from storage.rowread import RowArrays
from storage.shard_check import ShardIndex
from storage.store import Store

LEVELS = {"s4": (32, 64, 48), "s8": (64, 32, 24), "s16": (128, 16, 12), "s32": (256, 8, 6)}
CAM = Camera(f=[1145.0, 1144.0], c=[512.5, 515.5], id="54138969")


def maps(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {lv: np.maximum(rng.normal(0, 1, (n, *s)), 0).astype(np.float16) for lv, s in LEVELS.items()}


def build(path: Path, rows: int, rng: np.random.Generator) -> float:
    """Write `rows` rows of maps (one clip); returns CPU seconds of the backbone writes."""
    ds = Store.create(path).create_dataset("h36m", "h36m17", shard_rows=64)
    ci = ds.allocate([dict(subject="S1", action="A", subaction="1", camera=CAM.id, source="x")], [rows], [[CAM]])[0]
    ds.add_backbone("hrnet32", LEVELS, codec="bitround-2")
    batch = maps(64, rng)
    w = ds.backbone_writer("hrnet32", ci)
    t0 = time.process_time()
    for _ in range(rows // 64):
        w.append({"kp2d": np.zeros((64, 17, 2), np.float32), "kp2d_score": np.zeros((64, 17), np.float32), **batch})
    w.close()
    return time.process_time() - t0


def measure(rows: int, repeats: int, checksums: bool) -> dict[str, float]:
    layout.CHECKSUMS = checksums
    rng = np.random.default_rng(0)
    out = {"encode": [], "decode": [], "verify": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "s.zarr"
            out["encode"].append(build(path, rows, rng))
            names = [f"h36m/backbones/hrnet32/{lv}" for lv in LEVELS]
            reader, indexes = RowArrays(path), [ShardIndex.open(path, n) for n in names]
            order = rng.permutation(rows)
            t0 = time.process_time()
            for a in range(0, rows, 64):
                for n in names:
                    reader.take(n, np.sort(order[a:a + 64]))
            out["decode"].append(time.process_time() - t0)
            t0 = time.process_time()
            for index in indexes:
                index.verify(0, rows)
            out["verify"].append(time.process_time() - t0)
            assert check_store(path) == []
    layout.CHECKSUMS = True
    return {k: 1000 * min(v) / rows for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    res = {c: measure(args.rows, args.repeats, c) for c in (False, True)}
    print("| core-ms / row (all 4 levels, bitround-2) | encode (write) | decode (random reads) | verify (check) |")
    print("|---|---|---|---|")
    for c, label in ((False, "no checksum (stores before)"), (True, "crc32c per chunk")):
        r = res[c]
        print(f"| {label} | {r['encode']:.3f} | {r['decode']:.3f} | {r['verify']:.4f} |")


if __name__ == "__main__":
    main()
