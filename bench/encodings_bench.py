"""Measured trade-off of the map encodings (issue 9): bytes, encode/decode MB/s, random reads, capf MPJPE.

One store, one backbone group per encoding (made with `pipeline compact STORE --backbone SRC --encoding ENC`,
named SRC-ENC). Two parts, run separately (training is CPU-heavy):

    # bytes per frame (from the groups on disk), encode / decode MB/s (in memory, one thread), random-read
    # samples/s (Reader, batches of 64 random train rows, maps + flip=False)
    .venv/bin/python bench/encodings_bench.py io --cache STORE --groups hrnet32-blosc-zstd5,hrnet32-int8,...
    # capf trained on each group: same seed, same reduced config as bench/capf_vs_poseformer.py, GT 2D
    .venv/bin/python bench/encodings_bench.py train --cache STORE --groups ... --seeds 0 [--steps 400]

    # lossless stage after bit-rounding, per row on one core: bytes vs raw fp16, encode / decode core-ms
    # (the real maps of bench/node_budget.py's material; no store needed)
    .venv/bin/python bench/encodings_bench.py codecs [--keepbits 2,3] [--repeats 5]

Each part appends to bench/out/encodings_<part>.json (or --out) one record per group (per seed), so a killed run
keeps what it measured; the table for docs/benchmarks.md is printed by

    .venv/bin/python bench/encodings_bench.py report --cache STORE --groups REFERENCE_GROUP
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "out"
RAW_FP16_BYTES = 368_640  # HRNet-W32 s4..s32 maps of one 256x192 crop, fp16
READ_BATCH = 64


def _append(path: Path, rec: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)


def _group_bytes(cache: str, group: str) -> dict:
    """Stored map bytes per written row of a group (levels + int8 scale/offset arrays, no kp2d)."""
    from storage.audit import store_info

    for d in store_info(cache)["datasets"].values():
        if group in d["backbones"]:
            b = d["backbones"][group]
            return {"bytes_per_frame": b["map_bytes_per_row"], "rows": b["rows_written"],
                    "encoding": b["encoding"]}
    raise SystemExit(f"no group {group} in {cache}")


def _codec_timing(maps: dict[str, np.ndarray], encoding: str, repeats: int) -> tuple[float, float]:
    """(encode MB/s, decode MB/s) of raw fp16 bytes through encoding + its lossless codec, one row at a time."""
    import numcodecs

    from storage.codecs import compressors
    from storage.encodings import QPARAMS_SUFFIX, dequantize_int8, parse_encoding

    enc = parse_encoding(encoding)
    comp = compressors(enc.codec, typesize=np.dtype(enc.stored_dtype).itemsize)
    codec = None
    if comp:  # the numcodecs twin of the zarr codec
        name, cfg = comp[0].to_dict()["name"], comp[0].to_dict()["configuration"]
        codec = numcodecs.Zstd(level=cfg["level"]) if name == "zstd" else numcodecs.Blosc(
            cname=cfg["cname"], clevel=cfg["clevel"],
            shuffle={"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[cfg["shuffle"]])
    raw = sum(a.nbytes for a in maps.values())
    t_enc = t_dec = 0.0
    for _ in range(repeats):
        blobs = {}
        t0 = time.perf_counter()
        for lv, a in maps.items():
            parts = enc.encode(a)
            blobs[lv] = {s: [codec.encode(np.ascontiguousarray(p[i])) if codec else p[i].tobytes()
                             for i in range(len(p))] for s, p in parts.items()}
        t_enc += time.perf_counter() - t0
        t0 = time.perf_counter()
        for lv, a in maps.items():
            b = blobs[lv]
            stored = np.stack([np.frombuffer(codec.decode(x) if codec else x, enc.stored_dtype).reshape(a.shape[1:])
                               for x in b[""]])
            if enc.kind == "int8":
                q = np.stack([np.frombuffer(codec.decode(x), "float32").reshape(a.shape[1], 2)
                              for x in b[QPARAMS_SUFFIX]])
                stored = dequantize_int8(stored, q)
        t_dec += time.perf_counter() - t0
    mb = raw * repeats / 1e6
    return mb / t_enc, mb / t_dec


def io_part(args: argparse.Namespace) -> None:
    from storage.reader import Reader

    out = Path(args.out or OUT / "encodings_io.json")
    src = Reader(args.cache, backbone=args.groups.split(",")[0] or args.joints)
    train_rows = src.rows(split="train")
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(train_rows, args.codec_rows, replace=False))
    maps = {lv: a for lv, a in src.read(sample, fields=(), maps=True).items() if lv in src.levels}
    if args.joints:
        _append(out, joints_row(args, maps, train_rows))
    for group in [g for g in args.groups.split(",") if g]:
        info = _group_bytes(args.cache, group)
        enc_mbs, dec_mbs = _codec_timing(maps, info["encoding"], args.repeats)
        r = Reader(args.cache, backbone=group)
        r.read(rng.choice(train_rows, READ_BATCH), fields=(), maps=True)  # warm: open arrays, shard files
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < args.read_seconds:
            r.read(rng.choice(train_rows, READ_BATCH), maps=True)
            n += READ_BATCH
        _append(out, {"group": group, **info, "vs_raw_fp16": round(info["bytes_per_frame"] / RAW_FP16_BYTES, 4),
                      "encode_MBps": round(enc_mbs, 1), "decode_MBps": round(dec_mbs, 1),
                      "read_samples_per_s": round(n / (time.perf_counter() - t0), 1)})


def joints_row(args: argparse.Namespace, maps: dict[str, np.ndarray], train_rows: np.ndarray) -> dict:
    """The joint-sampled vectors of capf-s (backbones/<g>/joints/feat, `pipeline derive --joint-features`).

    encode MB/s: raw fp16 map bytes consumed per second by sampling at the joints + compressing; decode MB/s:
    (n, J, D) fp16 feature bytes decoded per second; reads: Reader(joint_features=True), no maps."""
    import os

    import numcodecs

    from pipeline.joint_features import sample_joint_features
    from storage.reader import Reader

    r = Reader(args.cache, backbone=args.joints, joint_features=True)
    feat = r.joints_group()["feat"]
    rows_done = sum(c.length for c in r.ready_clips())
    fdir = Path(args.cache) / feat.path
    stored = sum(os.path.getsize(Path(d) / f) for d, _, fs in os.walk(fdir) for f in fs if f != "zarr.json")
    n = len(next(iter(maps.values())))
    ref = np.random.default_rng(0).uniform(-1, 1, (n, r.ds.num_joints, 2)).astype(np.float32)
    codec = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=1)
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        blob = codec.encode(sample_joint_features(maps, ref))
    t_enc = (time.perf_counter() - t0) / args.repeats
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        dec = np.frombuffer(codec.decode(blob), np.float16)
    t_dec = (time.perf_counter() - t0) / args.repeats
    rng = np.random.default_rng(1)
    r.read(rng.choice(train_rows, READ_BATCH), joint_features=True)
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < args.read_seconds:
        r.read(rng.choice(train_rows, READ_BATCH), joint_features=True)
        k += READ_BATCH
    return {"group": f"{args.joints}/joints/feat", "encoding": "joint features (" + str(feat.dtype) + ", "
            f"{tuple(feat.shape[1:])})", "bytes_per_frame": round(stored / rows_done), "rows": rows_done,
            "vs_raw_fp16": round(stored / rows_done / RAW_FP16_BYTES, 4),
            "encode_MBps": round(sum(a.nbytes for a in maps.values()) / 1e6 / t_enc, 1),
            "decode_MBps": round(dec.nbytes / 1e6 / t_dec, 1),
            "read_samples_per_s": round(k / (time.perf_counter() - t0), 1)}


def train_part(args: argparse.Namespace) -> None:
    import torch
    from capf_vs_poseformer import MODELS  # same directory: the reduced capf config of that bench

    from lifters.config import TrainConfig
    from lifters.evaluate import evaluate_run
    from lifters.train import train

    torch.set_num_threads(1)
    out = Path(args.out or OUT / "encodings_train.json")
    runs = Path(args.runs)
    for seed in [int(s) for s in args.seeds.split(",")]:
        for group in args.groups.split(","):
            run = runs / f"{group}-s{seed}"
            t0 = time.perf_counter()
            train(TrainConfig(model="capf", cache=args.cache, out=str(run), epochs=10_000, batch_size=args.batch,
                              lr=1e-3, max_steps=args.steps, seed=seed, workers=0, eval_every=args.steps,
                              backbone=group, model_cfg=MODELS["capf"]), progress=False)
            m = evaluate_run(run, which="last")
            _append(out, {"group": group, "seed": seed, "steps": args.steps, "batch": args.batch,
                          "train_s": round(time.perf_counter() - t0, 1),
                          **{f"{k}_mm": round(m["metrics"][k]["mean_over_actions"], 2) for k in ("P1", "P2")},
                          "P1_over_frames_mm": round(m["metrics"]["P1"]["mean_over_frames"], 2)})


CODEC_GRID = ("blosc-zstd1", "blosc-zstd1-bit", "blosc-zstd3", "blosc-zstd5", "blosc-zstd5-bit", "blosc-lz4",
              "blosc-lz4-bit", "zstd1")


def codecs_part(args: argparse.Namespace) -> None:
    """bitround-K x lossless stage: bytes/row vs raw fp16 and encode (rounding + compress) / decode core-ms per row,
    one core (CPU time), medians of interleaved repeats."""
    import os
    import statistics

    from node_budget import MATERIAL, pin_one_core  # same directory

    from storage.codecs import numcodecs_codec
    from storage.encodings import bitround

    pin_one_core(max(os.sched_getaffinity(0)))
    src = sorted(MATERIAL.glob("outputs-*.npz"))
    if not src:
        raise SystemExit("run bench/node_budget.py once first (it makes the real maps this part encodes)")
    d = np.load(src[0])
    maps = {lv: d[lv] for lv in ("s4", "s8", "s16", "s32")}
    n, raw = len(maps["s4"]), sum(m[0].nbytes for m in maps.values())
    grid = [(k, c) for k in map(int, args.keepbits.split(",")) for c in CODEC_GRID]
    times: dict = {g: ([], [], 0) for g in grid}
    for _ in range(args.repeats):
        for k, c in grid:
            codec = numcodecs_codec(c)
            t0 = time.process_time()
            blobs = [codec.encode(np.ascontiguousarray(r)) for m in maps.values() for r in bitround(m, k)]
            t1 = time.process_time()
            for b in blobs:
                codec.decode(b)
            t2 = time.process_time()
            enc, dec, _ = times[(k, c)]
            times[(k, c)] = (enc + [(t1 - t0) * 1e3 / n], dec + [(t2 - t1) * 1e3 / n], sum(map(len, blobs)) / n)
    out = Path(args.out or OUT / "encodings_codecs.json")
    print("| encoding | lossless stage | vs raw fp16 | encode core-ms/row | decode core-ms/row |\n"
          "|---|---|---|---|---|")
    for (k, c), (enc, dec, nb) in times.items():
        rec = {"keepbits": k, "codec": c, "vs_raw_fp16": round(nb / raw, 4), "encode_core_ms": statistics.median(enc),
               "decode_core_ms": statistics.median(dec), "rows": n, "load": os.getloadavg()}
        with out.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"| bitround-{k} | {c} | {nb / raw:.3f} | {rec['encode_core_ms']:.2f} | {rec['decode_core_ms']:.2f} |")


def report(args: argparse.Namespace) -> None:
    """Markdown table: io records (last per group) joined with the training records (P1 per seed, vs reference)."""
    io = {}
    for line in Path(args.out or OUT / "encodings_io.json").read_text().splitlines():
        rec = json.loads(line)
        io[rec["group"]] = rec
    train: dict[str, dict[int, float]] = {}
    for line in Path(args.train_out).read_text().splitlines() if args.train_out else []:
        if line.startswith("{"):
            rec = json.loads(line)
            train.setdefault(rec["group"], {})[rec["seed"]] = rec["P1_mm"]
    ref = train.get(args.groups.split(",")[0], {})
    print("| encoding (group) | bytes/frame | vs raw fp16 | encode MB/s | decode MB/s | random-read samples/s | "
          "capf P1 mm (seed: value) | vs lossless, same seed |")
    print("|---|---|---|---|---|---|---|---|")
    for g, x in io.items():
        p1 = train.get(g, {})
        rel = ", ".join(f"{100 * (v / ref[s] - 1):+.1f}%" for s, v in sorted(p1.items()) if s in ref)
        print(f"| {x['encoding']} ({g}) | {x['bytes_per_frame']:,} | {x['vs_raw_fp16']:.3f} | {x['encode_MBps']} | "
              f"{x['decode_MBps']} | {x['read_samples_per_s']} | "
              f"{', '.join(f'{s}: {v:.1f}' for s, v in sorted(p1.items())) or 'n/a'} | {rel or '-'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=("io", "train", "report", "codecs"))
    ap.add_argument("--cache", default=None, help="the store (io, train, report)")
    ap.add_argument("--groups", default="", help="comma-separated backbone groups; the first is the reference")
    ap.add_argument("--keepbits", default="2,3", help="codecs: the bitround-K values")
    ap.add_argument("--out", default=None)
    ap.add_argument("--joints", default=None, help="io: also measure this group's joints/feat (capf-s vectors)")
    ap.add_argument("--codec-rows", type=int, default=64, help="io: rows timed through encode/decode")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--read-seconds", type=float, default=10.0)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--runs", default="/tmp/ctxpose-encodings-runs")
    ap.add_argument("--train-out", default=str(OUT / "encodings_train.json"), help="report: the train records")
    args = ap.parse_args()
    if args.part != "codecs" and not (args.cache and args.groups):
        ap.error(f"{args.part} needs --cache STORE and --groups G1,G2,...")
    {"io": io_part, "train": train_part, "report": report, "codecs": codecs_part}[args.part](args)


if __name__ == "__main__":
    main()
