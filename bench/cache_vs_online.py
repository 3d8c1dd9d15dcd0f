"""capf training samples/s: reading the feature cache vs the reference approach (the official CA-PoseFormer code
runs the frozen backbone on image crops at every step). Same model (default capf), same batch size, same rows,
same machine, one process each:

- cache:  batches from the store through `lifters.data` (DataLoader, 1 worker), then one capf training step;
- online: per row decode the frame from the synthetic video with PyAV, warp the crop with the row's stored
          affine (`pipeline.crops.warp_crops`), run HRNet-W32 under no_grad on the batch of crops
          (`pipeline.backbones`), then the same capf step on those maps.
A check that both paths feed the model the same features: max |online maps - cached maps| of the first batch.

    .venv/bin/python bench/cache_vs_online.py --cache STORE [--batch-size 16] [--cache-steps 12] [--online-steps 3]
Prints samples/s of both and the ratio; writes bench/out/cache_vs_online.json.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from lifters.config import make_model, model_kwargs
from lifters.data import LiftingData
from lifters.loader import BatchKeys, make_loader
from lifters.losses import mpjpe_loss
from lifters.models.param_groups import param_groups
from pipeline.backbones import RandomInitWarning, build_backbone
from pipeline.crops import warp_crops
from pipeline.datasets.video import iter_video_frames
from storage.reader import Reader

OUT = Path(__file__).parent / "out"


def train_step(model, opt, kp2d, ref, maps, target) -> float:
    loss = mpjpe_loss(model(kp2d, ref, maps), target)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def fresh(reader: Reader, seed: int = 0):
    torch.manual_seed(seed)
    model = make_model("capf", model_kwargs("capf", reader, {}))
    return model, torch.optim.AdamW(param_groups(model, 6.4e-4), lr=6.4e-4, weight_decay=0.1)


def online_maps(reader: Reader, backbone, rows: np.ndarray) -> dict[str, torch.Tensor]:
    """Decode, crop and run the backbone for `rows` -> {level: (B, C, H, W) float32}."""
    d = reader.read(rows, fields=("clip", "frame", "affine"))
    root = Path(reader.attrs["source_root"])
    crops = []
    for c, f, a in zip(d["clip"], d["frame"], d["affine"], strict=True):
        video = root / reader.clip_table[int(c)].source
        img = next(iter_video_frames(video, [int(f)]))
        crops.append(warp_crops(img[None], a[None].astype(np.float64)))
    maps, _ = backbone.forward(torch.cat(crops))  # frozen: runs under inference_mode
    return {lv: m.clone() for lv, m in maps.items()}  # normal tensors, usable by autograd downstream


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--cache-steps", type=int, default=12)
    ap.add_argument("--online-steps", type=int, default=3)
    args = ap.parse_args()
    reader = Reader(args.cache)
    rows = reader.rows(split="train")
    bs = args.batch_size

    # cache path
    data = LiftingData(reader, rows, maps=True)
    keys = BatchKeys(len(data), bs, shuffle=True, seed=0)
    loader = make_loader(data, keys, workers=1)
    model, opt = fresh(reader)
    n, busy, epoch, first = 0, 0.0, 0, None
    while n < args.cache_steps + 1:
        keys.set_epoch(epoch)
        it, epoch = iter(loader), epoch + 1
        while n < args.cache_steps + 1:
            t0 = time.perf_counter()
            try:
                b = next(it)
            except StopIteration:
                break
            train_step(model, opt, b["kp2d"], b["ref"], b["maps"], b["target"])
            if n == 0:
                first = b
            else:  # step 0 includes worker start-up
                busy += time.perf_counter() - t0
            n += 1
    cache_sps = args.cache_steps * bs / busy
    print(f"cache: {cache_sps:.2f} samples/s", flush=True)

    # online path: the same batches of rows, maps from video frames through the backbone every step
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomInitWarning)
        backbone = build_backbone(reader.backbone)
    plain = LiftingData(reader, rows, maps=False)
    model, opt = fresh(reader)
    keys.set_epoch(0, 0, steps=args.online_steps)
    busy, done, diff = 0.0, 0, None
    it = iter(keys)
    for _ in range(args.online_steps):
        pos, flip = next(it)
        t0 = time.perf_counter()
        b = plain[(pos, flip)]
        maps = online_maps(reader, backbone, b["row"].numpy())
        train_step(model, opt, b["kp2d"], b["ref"], maps, b["target"])
        busy += time.perf_counter() - t0
        done += len(pos)
        if diff is None:
            cached = first["maps"]
            same = torch.equal(first["row"], b["row"])
            diff = max(float((maps[lv].half().float() - cached[lv].float()).abs().max()) for lv in maps) if same \
                else None
    online_sps = done / busy
    res = {"store": args.cache, "model": "capf (default config)", "batch_size": bs, "train_rows": int(len(rows)),
           "torch_threads": torch.get_num_threads(), "cache_steps": args.cache_steps,
           "online_steps": args.online_steps, "cache_samples_per_s": cache_sps, "online_samples_per_s": online_sps,
           "speedup_cache_over_online": cache_sps / online_sps, "max_abs_map_diff_first_batch": diff}
    OUT.mkdir(exist_ok=True)
    (OUT / "cache_vs_online.json").write_text(json.dumps(res, indent=2))
    print(f"capf training, batch {bs}, {torch.get_num_threads()} torch threads: cache {cache_sps:.2f} samples/s, "
          f"online (PyAV decode + crop + HRNet-W32 + step) {online_sps:.2f} samples/s -> "
          f"{res['speedup_cache_over_online']:.1f}x (goal >= 10x)")
    print(f"same features: max |online - cached| over the first batch's maps = {diff}")
    print(f"-> {OUT / 'cache_vs_online.json'}")


if __name__ == "__main__":
    main()
