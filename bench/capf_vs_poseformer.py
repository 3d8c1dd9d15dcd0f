"""Measured acceptance of issue 7: capf vs the context-agnostic poseformer, same store, same budget, same seeds.

Both lifters train on the train split (S1, S5, ...) of one store with identical steps, batch size, lr and seed,
then are evaluated on its test split (S9, S11) with `lifters.evaluate.evaluate_run` (MPJPE P1, mm).

    .venv/bin/python bench/capf_vs_poseformer.py --cache STORE [--steps 300] [--batch 32] [--seeds 0] [--eval-every N]
Writes bench/out/capf_vs_poseformer.json (or --out), with each run's learning curve.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from lifters.config import TrainConfig
from lifters.evaluate import evaluate_run
from lifters.train import train

OUT = Path(__file__).parent / "out"
# Reduced but equal-size transformers so both fit the CPU budget; capf keeps its deformable + fusion modules.
MODELS = {"capf": {"dim": 64, "depth": 2}, "poseformer": {"dim": 256, "depth": 2}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--eval-every", type=int, default=0, help="steps between test evaluations (0: only at the end)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of: " + ", ".join(MODELS))
    ap.add_argument("--out", default=str(OUT / "capf_vs_poseformer.json"))
    args = ap.parse_args()
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="ctxpose-cvp-"))
    for seed in [int(s) for s in args.seeds.split(",")]:
        for model in args.models.split(","):
            cfg = MODELS[model]
            run = tmp / f"{model}-{seed}"
            t0 = time.perf_counter()
            train(TrainConfig(model=model, cache=args.cache, out=str(run), epochs=10_000, batch_size=args.batch,
                              lr=args.lr, max_steps=args.steps, seed=seed, workers=0,
                              eval_every=args.eval_every or args.steps, model_cfg=cfg), progress=False)
            m = evaluate_run(run, which="last")
            log = [json.loads(line) for line in (run / "metrics_log.jsonl").read_text().splitlines()]
            curve = [(e["step"], round(e["test_p1_mm"], 1), round(e["train_loss_mm"], 1)) for e in log
                     if e["event"] == "eval"]
            res = {"model": model, "seed": seed, "steps": args.steps, "batch": args.batch, "model_cfg": cfg,
                   "train_s": round(time.perf_counter() - t0, 1), "curve (step, test P1, train loss mm)": curve,
                   "metrics": m}
            results.append(res)
            print(json.dumps({k: v for k, v in res.items() if k != "metrics"}), json.dumps(m)[:400], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"cache": args.cache, "results": results}, indent=2))


if __name__ == "__main__":
    main()
