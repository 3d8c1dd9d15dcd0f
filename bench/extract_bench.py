"""Extraction benchmark: end-to-end frames/s vs backbone-only frames/s, peak RSS long vs short video, bytes/frame.

End to end = streaming decode (PyAV) -> crop warp -> batched backbone -> fp16 -> keypoint decode -> store writes
(`flows.work.process_clip`, no Prefect). Backbone only = the same batches of the same crops, already in memory.
The two are interleaved (--rounds) so machine noise hits both; the ratio is what counts.

    .venv/bin/python bench/extract_bench.py [--frames 16] [--batch 8] [--rounds 2] [--device cpu]
Writes bench/out/extract_bench.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).parent / "out"


def rss_child(raw: Path, store: Path) -> float:
    """Peak RSS (MiB) of a fresh process extracting every clip under `raw` into `store`."""
    code = f"""
import resource, sys
from flows.plan import make_plan
from flows.work import BackboneRequest, ExtractOptions, process_clip
req = BackboneRequest('hrnet32')
plan = make_plan('h36m', {str(raw)!r}, {str(store)!r}, req)
for i, c in plan.clips:
    process_clip({str(store)!r}, 'h36m', i, c, req, ExtractOptions())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-rss", action="store_true")
    args = ap.parse_args()
    from flows.plan import make_plan
    from flows.work import BackboneRequest, ExtractOptions, get_backbone, process_clip
    from pipeline.crops import crop_affine, warp_crops
    from pipeline.extract_clip import clip_boxes
    from pipeline.synth.h36m import synth_h36m
    from storage.audit import store_info

    tmp = Path(tempfile.mkdtemp(prefix="ctxpose-xbench-"))
    try:
        raw = tmp / "raw"
        synth_h36m(raw, ["S1"], ["Walking 1"], frames=args.frames, cameras=["54138969", "55011271"])
        req = BackboneRequest("hrnet32", device=args.device)
        bb = get_backbone(req)
        # backbone-only input: the very crops end-to-end extraction makes, decoded and warped up front
        plan = make_plan("h36m", raw, tmp / "probe.zarr", req)
        crops = []
        for _, clip in plan.clips:
            boxes = clip_boxes(clip, "root")
            aff = crop_affine(boxes, bb.input_size)
            imgs = list(clip.frames())
            crops.append(warp_crops(imgs, aff, device=args.device))
        crops = torch.cat(crops)
        n = len(crops)
        bb.forward(crops[: args.batch])  # warm-up
        e2e, only = [], []
        for k in range(args.rounds):
            t0 = time.perf_counter()
            for b in range(0, n, args.batch):
                maps, _ = bb.forward(crops[b:b + args.batch])
                {lv: x.half().cpu().numpy() for lv, x in maps.items()}
            only.append(n / (time.perf_counter() - t0))
            store = tmp / f"e2e{k}.zarr"
            p = make_plan("h36m", raw, store, req)
            t0 = time.perf_counter()
            for i, clip in p.clips:
                process_clip(str(store), "h36m", i, clip, req, ExtractOptions(batch_size=args.batch))
            e2e.append(n / (time.perf_counter() - t0))
            print(f"round {k}: backbone-only {only[-1]:.2f} frames/s, end-to-end {e2e[-1]:.2f} frames/s", flush=True)
        info = store_info(tmp / "e2e0.zarr")["datasets"]["h36m"]["backbones"]["hrnet32"]
        res = {"device": args.device, "frames": n, "batch": args.batch, "torch_threads": torch.get_num_threads(),
               "backbone_only_fps": float(np.median(only)), "end_to_end_fps": float(np.median(e2e)),
               "ratio": float(np.median(e2e) / np.median(only)), "map_bytes_per_frame": info["map_bytes_per_row"],
               "map_ratio_vs_raw_fp16": info["map_ratio_vs_raw_fp16"], "raw_fp16_bytes_per_frame": 368640,
               "date": time.strftime("%Y-%m-%d")}
        if torch.cuda.is_available():
            res["gpu"] = torch.cuda.get_device_name(0)
        if not args.skip_rss:
            short, long_ = tmp / "short", tmp / "long"
            synth_h36m(short, ["S1"], ["Walking 1"], frames=8, cameras=["54138969"])
            synth_h36m(long_, ["S1"], ["Walking 1"], frames=8 * 12, cameras=["54138969"])
            res["peak_rss_mib_short_8_frames"] = rss_child(short, tmp / "s.zarr")
            res["peak_rss_mib_long_96_frames"] = rss_child(long_, tmp / "l.zarr")
            res["rss_long_vs_short"] = res["peak_rss_mib_long_96_frames"] / res["peak_rss_mib_short_8_frames"]
        print(json.dumps(res, indent=2))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"extract_bench_{args.device}.json").write_text(json.dumps(res, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
