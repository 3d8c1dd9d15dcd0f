"""Why does (or doesn't) cached context beat 2D-only lifting on a store? Cheap diagnostics (issue 7).

Reads the test/train splits of a store with backbone maps, samples every level at the GT 2D joints (the features
capf's context tokens start from) and measures, in minutes on a CPU:
  probe   ridge regression of each joint's root-relative depth from its own sampled vector (test R^2, per level)
          = how much depth cue the maps carry;
  mlp     an MLP lifter (2 x 512, dropout 0.25, L1, AdamW one-cycle) on 2D only, 2D + k PCA dims of the features
          per joint, the same with features shuffled across samples, and 2D + the shared linear depth probe
          (out-of-fold on train); test MPJPE mm (root-relative, 17 joints) and the 2D-only lifter's depth R^2
          = whether the cue adds anything a 2D lifter does not already know;
  motion  (no store needed) a 2D-only MLP on the synthetic generator's GT poses for an action list: how much
          depth ambiguity the synthetic motions leave to resolve.

    .venv/bin/python bench/context_diagnostics.py --cache STORE [--seeds 0,1] [--epochs 120]
    .venv/bin/python bench/context_diagnostics.py --motion "Walking 1,Directions 1" --motion "Greeting 1,Posing 1"
Writes bench/out/context_diagnostics.json (or --out).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from lifters.data import LiftingData, open_reader, split_rows
from schemas.crop_coords import bilinear_at

OUT = Path(__file__).parent / "out"


def split_arrays(cache: str, scan_level: str = "s8") -> tuple[dict, list[str], list[int]]:
    """{split: (features (n, J, D) float32, kp2d (n, J, 2), target (n, J, 3) m, clip (n,), ref (n, J, 2),
    `scan_level` maps (n, C, H, W) f16)}, level names, level widths."""
    reader = open_reader(cache, need_maps=True)
    out = {}
    for split in ("train", "test"):
        data = LiftingData(reader, split_rows(reader, split), maps=True)
        parts: dict[str, list] = {k: [] for k in ("f", "k", "t", "c", "r", "m")}
        for a in range(0, len(data), 128):
            b = data.batch(np.arange(a, min(a + 128, len(data))))
            parts["f"].append(np.concatenate([bilinear_at(b["maps"][lv], b["ref"]) for lv in data.levels], -1))
            for key, name in (("k", "kp2d"), ("t", "target"), ("c", "clip"), ("r", "ref")):
                parts[key].append(b[name])
            parts["m"].append(b["maps"][scan_level])
        out[split] = tuple(np.concatenate(parts[k]) for k in ("f", "k", "t", "c", "r", "m"))
    return out, list(reader.levels), [c for c, _, _ in reader.levels.values()]


def between_clip_share(v: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Per column of v (n, ...): the fraction of its variance explained by the clip means (eta squared)."""
    v = v.reshape(len(v), -1)
    means = np.zeros_like(v)
    for c in np.unique(clip):
        means[clip == c] = v[clip == c].mean(0)
    return ((means - v.mean(0)) ** 2).mean(0) / (v.var(0) + 1e-12)


def alignment_scan(train: tuple, test: tuple, shifts: tuple[int, ...] = (-2, -1, 0, 1, 2)) -> list[list[float]]:
    """Probe R^2 (rows dy, columns dx) with the sampling points moved by (dx, dy) map pixels of the scan level:
    a correct crop-affine mapping peaks at (0, 0) (within a pixel)."""
    grid = []
    for dy in shifts:
        row = []
        for dx in shifts:
            feats = []
            for arr in (train, test):
                m, ref = arr[5], arr[4]
                h, w = m.shape[-2:]
                moved = ref + np.array([dx * 2 / (w - 1), dy * 2 / (h - 1)], np.float32)
                feats.append(bilinear_at(m, moved)[:, 1:])
            a, b = standardize(*feats)
            wt, c = ridge(a.reshape(-1, a.shape[-1]), train[2][:, 1:, 2].reshape(-1))
            row.append(round(r2(b.reshape(-1, b.shape[-1]) @ wt + c, test[2][:, 1:, 2].reshape(-1)), 3))
        grid.append(row)
    return grid


def ridge(x: np.ndarray, y: np.ndarray, lam: float = 30.0) -> tuple[np.ndarray, float]:
    """Weights and intercept of ridge regression on standardized inputs x (n, D), y (n,)."""
    w = np.linalg.solve(x.T @ x + lam * len(x) * 1e-3 * np.eye(x.shape[1]), x.T @ (y - y.mean()))
    return w, float(y.mean())


def r2(pred: np.ndarray, y: np.ndarray) -> float:
    return float(1 - ((pred - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mu, sd = train.reshape(-1, train.shape[-1]).mean(0), train.reshape(-1, train.shape[-1]).std(0) + 1e-6
    return [(a - mu) / sd for a in (train, *others)]


def mlp_mpjpe(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray, seed: int, epochs: int
              ) -> tuple[float, np.ndarray]:
    """Train the MLP lifter on (x (n, F), y (n, J, 3) m); test MPJPE mm and the root-relative test prediction."""
    torch.manual_seed(seed)
    xa, ya = torch.tensor(x, dtype=torch.float32), torch.tensor(y.reshape(len(y), -1))
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 512), torch.nn.ReLU(), torch.nn.Dropout(0.25),
                              torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Dropout(0.25),
                              torch.nn.Linear(512, ya.shape[1]))
    per_epoch = max(1, len(xa) // 128)
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=epochs * per_epoch)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(xa), generator=gen)
        for i in range(per_epoch):
            idx = perm[i * 128:(i + 1) * 128]
            loss = (net(xa[idx]) - ya[idx]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        p = net(torch.tensor(xt, dtype=torch.float32)).reshape(yt.shape).numpy()
    p = p - p[:, :1]
    return float(np.linalg.norm(p - yt, axis=-1).mean() * 1000), p


def store_diagnostics(cache: str, seeds: list[int], epochs: int) -> dict:
    arrays, levels, widths = split_arrays(cache)
    (f, k, t, clip, _, _), (ft, kt, tt, _, _, _) = arrays["train"], arrays["test"]
    z, zt = t[..., 2], tt[..., 2]
    res: dict = {"cache": cache, "train_rows": len(f), "test_rows": len(ft), "train_clips": len(np.unique(clip)),
                 "probe_r2": {}, "mlp_mpjpe_mm": {}}
    bounds = np.cumsum([0, *widths])
    res["between_clip_variance_share"] = {
        lv: round(float(np.median(between_clip_share(f[..., bounds[i]:bounds[i + 1]], clip))), 2)
        for i, lv in enumerate(levels)}
    res["between_clip_variance_share"]["depth target"] = round(float(np.median(between_clip_share(z[:, 1:], clip))), 2)
    res["alignment_scan_r2 (rows dy, cols dx = -2..2 px)"] = alignment_scan(arrays["train"], arrays["test"])
    print(json.dumps({k: v for k, v in res.items() if k != "mlp_mpjpe_mm"}), flush=True)
    for name, sl in [("all", slice(None))] + [(lv, slice(bounds[i], bounds[i + 1])) for i, lv in enumerate(levels)]:
        a, b = standardize(f[:, 1:, sl], ft[:, 1:, sl])
        w, c = ridge(a.reshape(-1, a.shape[-1]), z[:, 1:].reshape(-1))
        res["probe_r2"][name] = round(r2(b.reshape(-1, b.shape[-1]) @ w + c, zt[:, 1:].reshape(-1)), 3)
    s, st = standardize(f, ft)
    _, _, vt = np.linalg.svd(s.reshape(-1, s.shape[-1])[::4], full_matrices=False)
    folds = np.arange(len(s)) % 5  # out-of-fold shared depth probe for the train rows
    probe = np.zeros(z.shape, np.float32)
    for i in range(5):
        w, c = ridge(s[folds != i].reshape(-1, s.shape[-1]), z[folds != i].reshape(-1))
        probe[folds == i] = s[folds == i] @ w + c
    w, c = ridge(s.reshape(-1, s.shape[-1]), z.reshape(-1))
    probe_t = st @ w + c
    rng = np.random.default_rng(0)
    flat, flat_t = k.reshape(len(k), -1), kt.reshape(len(kt), -1)
    variants = {"2D only": (flat, flat_t)}
    for n in (4, 16):
        pc, pct = (s @ vt[:n].T).reshape(len(s), -1), (st @ vt[:n].T).reshape(len(st), -1)
        variants[f"2D + PCA{n}/joint"] = (np.hstack([flat, pc]), np.hstack([flat_t, pct]))
        if n == 4:
            variants["2D + PCA4/joint, shuffled"] = (np.hstack([flat, pc[rng.permutation(len(pc))]]),
                                                     np.hstack([flat_t, pct[rng.permutation(len(pct))]]))
    variants["2D + shared depth probe (1/joint)"] = (np.hstack([flat, probe]), np.hstack([flat_t, probe_t]))
    for name, (x, xt) in variants.items():
        errs = []
        for seed in seeds:
            e, p = mlp_mpjpe(x, t, xt, tt, seed, epochs)
            errs.append(round(e, 1))
            if name == "2D only" and seed == seeds[0]:
                res["2D-only depth R2"] = round(r2(p[:, 1:, 2], zt[:, 1:]), 3)
        res["mlp_mpjpe_mm"][name] = errs
        print(f"{name}: test MPJPE {errs} mm", flush=True)
    return res


def motion_diagnostics(actions: list[str], seed: int, frames: int, epochs: int) -> dict:
    """2D-only MLP on the synthetic generator's GT poses (train S1,S5,S6,S7,S8 / test S9, all 4 cameras)."""
    from pipeline.datasets.h36m_cameras import CAMERA_IDS, builtin_camera
    from pipeline.synth.body import to_h36m32
    from pipeline.synth.h36m import sequence
    from schemas.camera import normalize_screen_coordinates, project, world_to_camera
    from schemas.joints import convert

    def arrays(subjects: list[str]) -> tuple[np.ndarray, np.ndarray]:
        kp, p3 = [], []
        for s in subjects:
            for a in actions:
                j32 = to_h36m32(sequence(s, a, frames, seed)[0][::2])
                for cid in CAMERA_IDS:
                    cam = builtin_camera(s, cid)
                    pc = convert(world_to_camera(j32, cam.R_w2c, cam.t_w2c), "h36m32", "h36m17")
                    kp.append(normalize_screen_coordinates(project(pc, cam), cam.width, cam.height))
                    p3.append((pc - pc[:, :1]) / 1000.0)
        return np.concatenate(kp).astype(np.float32), np.concatenate(p3).astype(np.float32)

    (k, t), (kt, tt) = arrays(["S1", "S5", "S6", "S7", "S8"]), arrays(["S9"])
    e, _ = mlp_mpjpe(k.reshape(len(k), -1), t, kt.reshape(len(kt), -1), tt, 0, epochs)
    print(f"motions {actions}: 2D-only MLP test MPJPE {e:.1f} mm", flush=True)
    return {"actions": actions, "seed": seed, "frames": frames, "train_rows": len(k), "test_rows": len(kt),
            "mlp_2d_only_mpjpe_mm": round(e, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", help="store with backbone maps (train and test split rows)")
    ap.add_argument("--motion", action="append", default=[], help="comma-separated synthetic action list")
    ap.add_argument("--motion-seed", type=int, default=1)
    ap.add_argument("--motion-frames", type=int, default=64)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--epochs", type=int, default=120)
    ap.add_argument("--out", default=str(OUT / "context_diagnostics.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    out: dict = {}
    if args.cache:
        out["store"] = store_diagnostics(args.cache, [int(s) for s in args.seeds.split(",")], args.epochs)
    out["motion"] = [motion_diagnostics(m.split(","), args.motion_seed, args.motion_frames, args.epochs)
                     for m in args.motion]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
