"""Does cdl learn when its map localises the joints? cdl on the cached s4 map vs on "oracle" maps.

cdl takes no 2D input: it must find the joints in the frozen stride-4 map. This separates "the model cannot learn"
from "the cached (random-init) maps do not localise joints": the same reduced cdl trains on
- `real`:   the store's cached hrnet32 s4 maps (B, 32, 64, 48);
- `oracle`: maps whose first 17 channels are Gaussians (sigma 2 px) at the GT joints, the rest zero, plus N(0, 0.05)
            noise: a stand-in for what a trained 2D backbone's maps carry;
with the lifter's input detached (the default, sequential training) or not (`--end-to-end` from step 0).
Prints, every `--every` steps: test P1 (mm, root-relative, no alignment) and the soft-argmax 2D error (map px),
and the mean-pose baselines (the train mean 3D pose and 2D, on every test row). Rows: `--train-rows` random train
rows and 256 random test rows, preloaded.

    .venv/bin/python bench/cdl_maps_probe.py --cache STORE --maps oracle|real [--steps 600] [--end-to-end]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lifters.data import LiftingData, open_reader, split_rows
from lifters.models.cdl import CascadedDimensionLifting
from lifters.models.heatmaps import gaussian_heatmaps, to_map_px

BENCH_CDL = {"width": 16, "hidden": 512, "blocks": 2}  # the reduced cdl of bench/lifters_table.py


def load(reader, rows: np.ndarray, maps: bool) -> dict[str, torch.Tensor]:
    """ref (n, J, 2) map-normalized, target (n, J, 3) m, and s4 (n, C, H, W) float32 when `maps`."""
    b = LiftingData(reader, rows, maps=maps, levels=["s4"]).batch(np.arange(len(rows)))
    out = {"ref": torch.from_numpy(b["ref"]), "target": torch.from_numpy(b["target"])}
    if maps:
        out["s4"] = torch.from_numpy(b["maps"]["s4"].astype(np.float32))
    return out


def oracle_maps(ref: torch.Tensor, channels: int, h: int, w: int, noise: float = 0.05) -> torch.Tensor:
    """(B, channels, h, w): Gaussians at `ref` (B, J, 2) in the first J channels, zeros after, plus noise."""
    g = gaussian_heatmaps(ref, h, w, 2.0)
    pad = torch.zeros(len(ref), channels - g.shape[1], h, w)
    return torch.cat([g, pad], 1) + noise * torch.randn(len(ref), channels, h, w)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True)
    ap.add_argument("--maps", choices=("oracle", "real"), required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--train-rows", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--end-to-end", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    reader = open_reader(a.cache, backbone="hrnet32")
    tr, te = split_rows(reader, "train"), split_rows(reader, "test")
    tr = np.sort(rng.choice(tr, min(len(tr), a.train_rows), replace=False))
    te = np.sort(rng.choice(te, min(len(te), 256), replace=False))
    real = a.maps == "real"
    dtr, dte = load(reader, tr, real), load(reader, te, real)
    ch, h, w = reader.levels["s4"]

    def maps_of(d: dict, idx: torch.Tensor) -> torch.Tensor:
        return d["s4"][idx] if real else oracle_maps(d["ref"][idx], ch, h, w)

    model = CascadedDimensionLifting(levels={"s4": ch}, end_to_end=a.end_to_end, **BENCH_CDL)
    opt = torch.optim.AdamW(model.parameters(), a.lr)
    base = (dtr["target"].mean(0) - dte["target"]).norm(dim=-1).mean() * 1000
    base2d = (to_map_px(dtr["ref"].mean(0), h, w) - to_map_px(dte["ref"], h, w)).norm(dim=-1).mean()
    print(f"maps={a.maps} end_to_end={a.end_to_end} train {len(tr)} / test {len(te)} rows; "
          f"mean-pose baselines: P1 {base:.1f} mm, 2D {base2d:.2f} map px")
    t0 = time.time()
    for step in range(a.steps + 1):
        idx = torch.randint(0, len(tr), (a.batch,))
        model.train()
        loss = model.loss_batch({"ref": dtr["ref"][idx], "target": dtr["target"][idx],
                                 "maps": {"s4": maps_of(dtr, idx)}})
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % a.every == 0:
            model.eval()
            with torch.no_grad():
                out = model.heads(maps_of(dte, torch.arange(len(te))))
            p1 = (out["pose"] - dte["target"]).norm(dim=-1).mean() * 1000
            uv = (to_map_px(out["uv"], h, w) - to_map_px(dte["ref"], h, w)).norm(dim=-1).mean()
            print(f"step {step:5d}  loss {loss.item():.3f}  test P1 {p1:.1f} mm  2D error {uv:.2f} map px  "
                  f"({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
