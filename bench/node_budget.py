"""CPU budget of a GPU node: core-ms per extracted frame of each CPU stage and per training sample of the loader.

Everything runs in this one process pinned to one core (`sched_setaffinity`, torch 1 thread, blosc 1 thread), so
a stage's CPU time (`time.process_time`, user + sys of all its threads) is its cost in core-ms; wall time is
reported beside it (this machine is shared: wall > CPU when others run). Medians of --repeats interleaved rounds.

Extraction (backbone excluded, on the synthetic 1000x1000 H.264 videos and the real random-init HRNet-W32 outputs
of their crops, made once and cached in bench/out/node_budget/): video decode (PyAV), crop warp (grid_sample,
256x192), keypoint decode (mmpose MSRAHeatmap -> image px -> dataset joints), map encode per encoding (rounding +
the numcodecs twin of the lossless stage, per row and level), store write per encoding (ClipWriter through tensorstore,
encode included) and the clip's GT rows.
Training: the loader path per sample at --batch (read + decode + normalise + collate (+ pin on CUDA):
`LiftingData.batch` + `to_torch`) over a store of the same maps, for the default encoding and `none`, and over an
in-memory copy.
Node model: items/s = min(R, N * 1000 / core-ms) for N = 8, 16, 32 cores, R the GPU rate (see RATES).

    .venv/bin/python bench/node_budget.py [--repeats 5] [--encodings bitround-2,blosc-zstd5] [--core 0]
Prints both tables and the model; writes bench/out/node_budget.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "out"
MATERIAL = OUT / "node_budget"
CLIP_ROWS = 64  # rows per written clip (one shard)
# GPU rates used by the node model when no GPU is lent: published / derived figures, not measured here.
RATES = {
    "extract": (3000.0, "HRNet-W32 256x192 crops/s on one modern GPU (fp16, batched; the issue's figure: "
                        "7.1 GFLOPs/crop at ~21 TFLOP/s sustained, an A100/H100 class card)"),
    "train": (5000.0, "capf training samples/s on one modern GPU (assumed: ~1.8 GFLOPs per training sample, "
                      "~9 TFLOP/s sustained for a small transformer at batch 256)"),
}


def pin_one_core(core: int) -> None:
    """Limit this process (and every thread it starts) to one core, torch and blosc to one thread."""
    import numcodecs.blosc
    import torch

    os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)
    numcodecs.blosc.set_nthreads(1)
    numcodecs.blosc.use_threads = False


def material(frames: int) -> dict:
    """Synthetic H36M video (1000x1000) + boxes/affines of its rows + the backbone's maps and heatmaps of its first
    8 crops (random-init HRNet-W32, run once here, cached)."""
    from pipeline.datasets.registry import get_adapter
    from pipeline.extract_clip import clip_boxes
    from pipeline.synth import synth_dataset

    raw = MATERIAL / "raw"
    if not (raw / "done").exists():
        shutil.rmtree(raw, ignore_errors=True)
        synth_dataset("h36m", raw, subjects=["S1"], actions=["Walking"], frames=frames)
        (raw / "done").write_text("")
    clip = get_adapter("h36m").list_clips(raw, subjects=["S1"])[0][0]
    boxes = clip_boxes(clip)
    cache = MATERIAL / f"outputs-{frames}.npz"
    if not cache.exists():
        from pipeline.backbones import build_backbone
        from pipeline.crops import crop_affine, warp_crops

        bb = build_backbone("hrnet32")
        imgs = [im for _, im in zip(range(8), clip.frames(), strict=False)]
        maps, hm = bb.forward(warp_crops(np.stack(imgs), crop_affine(boxes[:8], bb.input_size)))
        np.savez(cache, heatmaps=hm.numpy(), **{lv: m.half().numpy() for lv, m in maps.items()})
    from pipeline.crops import crop_affine

    return {"clip": clip, "boxes": boxes, "affines": crop_affine(boxes), **dict(np.load(cache))}


def timed(fn, items: int) -> tuple[float, float]:
    """(core-ms, wall-ms) per item of one call of fn."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return (time.process_time() - c0) * 1e3 / items, (time.perf_counter() - w0) * 1e3 / items


def extraction_stages(m: dict, encodings: list[str], store: Path) -> dict:
    """{stage: zero-arg callable -> items it processed}: one round of every extraction stage."""
    import torch

    from pipeline.crops import warp_crops
    from pipeline.keypoints import detect
    from storage.codecs import numcodecs_codec
    from storage.encodings import parse_encoding
    from storage.store import Store

    clip, levels = m["clip"], ("s4", "s8", "s16", "s32")
    imgs = np.stack([im for _, im in zip(range(8), clip.frames(), strict=False)])
    A8, hm = m["affines"][:8], torch.from_numpy(m["heatmaps"])
    tile = np.arange(CLIP_ROWS) % 8
    rows = {lv: m[lv][tile] for lv in levels}
    stages: dict = {"video decode": lambda: sum(1 for _ in clip.frames()),
                    "crop warp": lambda: len(warp_crops(imgs, A8)),
                    "keypoint decode": lambda: len(detect(hm, A8, clip.joint_set)[0])}
    ds = Store.open(store, mode="r+").dataset("h36m")
    state = {"clip": 0}

    def gt_write() -> int:
        c = ds.clip(state["clip"])
        n = c.length
        ds.write_clip(c.index, {"frame": np.arange(n, dtype=np.int32), "person": np.zeros(n, np.int32),
                                "camera": np.zeros(n, np.int32), "valid": np.ones(n, bool),
                                "bbox": m["boxes"][tile], "affine": m["affines"][tile],
                                "kp2d_gt": clip.kp2d_gt[tile], "pose3d_cam": clip.pose3d_cam[tile]})
        return n

    stages["GT rows write"] = gt_write
    for name in encodings:
        enc = parse_encoding(name)
        codec = numcodecs_codec(enc.codec, np.dtype(enc.stored_dtype).itemsize)

        def encode(enc=enc, codec=codec) -> int:
            for lv in levels:
                for part in enc.encode(m[lv]).values():
                    for r in part:
                        codec.encode(np.ascontiguousarray(r)) if codec else r.tobytes()
            return 8

        def write(name=name) -> int:
            w = ds.backbone_writer(f"bb-{name}", state["clip"])
            for b in range(0, CLIP_ROWS, 8):
                w.append({"kp2d": clip.kp2d_gt[tile[b:b + 8]], "kp2d_score": np.ones((8, 17), np.float32),
                          **{lv: rows[lv][b:b + 8] for lv in levels}})
            w.close()
            return CLIP_ROWS

        stages[f"map encode {name}"] = encode
        stages[f"store write {name} (encode incl.)"] = write
    stages["(next clip)"] = lambda: state.update(clip=state["clip"] + 1) or 1
    return stages


def make_store(path: Path, m: dict, clips: int, encodings: list[str], fill: bool) -> None:
    """A store of `clips` 64-row S1 clips with one backbone group per encoding; `fill`: write them all."""
    from schemas.camera import Camera
    from storage.store import Store

    levels = {lv: m[lv].shape[1:] for lv in ("s4", "s8", "s16", "s32")}
    ds = Store.create(path).create_dataset("h36m", "h36m17", shard_rows=CLIP_ROWS)
    cam = Camera(f=[1145.0, 1144.0], c=[512.5, 515.5], id="54138969")
    ds.allocate([dict(subject="S1", action="Walking", subaction=str(i), camera=cam.id, source="")
                 for i in range(clips)], [CLIP_ROWS] * clips, [[cam]] * clips)
    for e in encodings:
        ds.add_backbone(f"bb-{e}", levels, codec=e)
    if not fill:
        return
    stages = extraction_stages(m, encodings, path)
    for _ in range(clips):
        for k in ["GT rows write", *[f"store write {e} (encode incl.)" for e in encodings], "(next clip)"]:
            stages[k]()


def loader_stages(store: Path, encodings: list[str], batch: int) -> dict:
    import torch
    from train_loader import MemoryReader  # same directory

    from lifters.data import LiftingData, to_torch
    from storage.reader import Reader

    pin = torch.cuda.is_available()
    rng = np.random.default_rng(0)
    out = {}
    for e in [*encodings, "memory"]:
        r = Reader(store, backbone=f"bb-{e if e != 'memory' else encodings[0]}")
        rows = r.rows(split="train")
        data = LiftingData(MemoryReader(r) if e == "memory" else r, rows, maps=True)

        def step(data=data) -> int:
            b = to_torch(data.batch(rng.choice(len(data), batch, replace=False)))
            if pin:
                b = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in b.items()}
            return batch
        step()  # warm: open arrays, page cache
        out[f"loader {e}"] = step
    return out


def run_rounds(stages: dict, repeats: int) -> dict:
    res: dict[str, list] = {k: [] for k in stages if not k.startswith("(")}
    for _ in range(repeats):
        for k, fn in stages.items():
            box = {}
            t = timed(lambda fn=fn, box=box: box.update(n=fn()), 1)
            if k in res:
                res[k].append((t[0] / box["n"], t[1] / box["n"]))
    return {k: {"core_ms": statistics.median(x[0] for x in v), "wall_ms": statistics.median(x[1] for x in v),
                "core_ms_all": [round(x[0], 3) for x in v]} for k, v in res.items()}


def node_model(core_ms: float, rate: float) -> dict[int, float]:
    return {n: min(rate, n * 1000.0 / core_ms) for n in (8, 16, 32)}


def report(ext: dict, load: dict, encodings: list[str], default: str) -> dict:
    print(f"\nload average {load['before']} -> {load['after']} (1, 5, 15 min); one core, CPU time per item\n")
    print("| stage | core-ms | wall-ms |\n|---|---|---|")
    for k, v in ext.items():
        print(f"| {k} | {v['core_ms']:.3f} | {v['wall_ms']:.3f} |")
    ms = {k: v["core_ms"] for k, v in ext.items()}
    models = {}
    rate, src = RATES["extract"]
    for e in encodings if "crop warp" in ms else []:
        rest = ms["keypoint decode"] + ms["GT rows write"] + ms[f"store write {e} (encode incl.)"]
        for label, cost in ((f"extract {e}, decode+warp on CPU", rest + ms["video decode"] + ms["crop warp"]),
                            (f"extract {e}, decode on CPU, warp on GPU (--device cuda today)",
                             rest + ms["video decode"]),
                            (f"extract {e}, decode (NVDEC) + warp on GPU", rest)):
            models[label] = {"core_ms": cost, "R": rate, "per_s": node_model(cost, rate)}
    rate_t, src_t = RATES["train"]
    for k in (k for k in ms if k.startswith("loader")):
        models[f"train, {k}"] = {"core_ms": ms[k], "R": rate_t, "per_s": node_model(ms[k], rate_t)}
    print(f"\nnode model: items/s = min(R, N * 1000 / core-ms); extraction R = {rate:.0f} ({src}); training R = "
          f"{rate_t:.0f} ({src_t})\n")
    print("| path | core-ms/item | N=8 | N=16 | N=32 | GPU-bound at |\n|---|---|---|---|---|---|")
    for k, v in models.items():
        need = v["core_ms"] * v["R"] / 1000
        print(f"| {k} | {v['core_ms']:.2f} | " + " | ".join(f"{x:,.0f}" for x in v["per_s"].values())
              + f" | {need:.1f} cores |")
    return models


def main() -> None:
    from storage.codecs import DEFAULT_MAP_CODEC

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--frames", type=int, default=32, help="frames of the synthetic video (decode stage)")
    ap.add_argument("--encodings", default=f"{DEFAULT_MAP_CODEC},blosc-zstd5,none")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--loader-clips", type=int, default=16, help="64-row clips in the loader's store")
    ap.add_argument("--core", type=int, default=None, help="the core to pin to (default: the last allowed)")
    ap.add_argument("--part", choices=("all", "extract", "train"), default="all")
    args = ap.parse_args()
    encodings = args.encodings.split(",")
    pin_one_core(args.core if args.core is not None else max(os.sched_getaffinity(0)))
    m = material(args.frames)
    load = {"before": [round(x, 2) for x in os.getloadavg()]}
    res: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="ctxpose-node-"))
    try:
        if args.part in ("all", "extract"):
            make_store(tmp / "w.zarr", m, args.repeats + 1, encodings, fill=False)
            res.update(run_rounds(extraction_stages(m, encodings, tmp / "w.zarr"), args.repeats))
        if args.part in ("all", "train"):
            make_store(tmp / "r.zarr", m, args.loader_clips, encodings, fill=True)
            res.update(run_rounds(loader_stages(tmp / "r.zarr", encodings, args.batch), args.repeats))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load["after"] = [round(x, 2) for x in os.getloadavg()]
    models = report(res, load, encodings, DEFAULT_MAP_CODEC)
    OUT.mkdir(exist_ok=True)
    (OUT / "node_budget.json").write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%d %H:%M"), "args": vars(args), "load_average": load, "stages": res,
         "rates": RATES, "model": models}, indent=2))
    print(f"-> {OUT / 'node_budget.json'}")


if __name__ == "__main__":
    main()
