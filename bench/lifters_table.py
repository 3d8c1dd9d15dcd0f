"""Every registered lifter on one store with one training budget: accuracy, cost and training throughput.

Each lifter trains on the train split of `--cache` with the same steps, batch size, lr and seed (reduced model
sizes, `BENCH` below), then `lifters.evaluate.evaluate_run` scores its last checkpoint on the test split: P1 MPJPE,
P2 P-MPJPE and MPJVE (mm, means over actions). Temporal models (strided, capf-s) read T = `--frames` windows.
plt is trained in its two stages: "plt" (stage 1, coarse) and "plt-2" (stage 2: a new run of the same budget
refining the frozen stage-1 run). Cost: trainable parameters and forward FLOPs per sample (`lifters.flops.run_cost`,
as `pipeline train --dry-run` prints) at the bench size and at the paper-size default config. Throughput: the
trainer's steady-state samples/s and data-wait fraction from the run's metrics_log.jsonl "eval" event.

    .venv/bin/python bench/lifters_table.py --cache STORE [--steps 200] [--batch 32] [--lr 1e-3] [--seed 0]
        [--models capf,poseformer,strided,capf-s,plt,plt-2,cdl] [--frames 27] [--workers 1] [--out JSON]
The store needs hrnet32 maps (capf, plt, cdl) and joint features (capf-s: `pipeline derive STORE --backbone
hrnet32 --joint-features`). Prints a markdown table; writes bench/out/lifters_table.json (or --out);
`--from-json JSON` prints the table of an earlier run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from capf_vs_poseformer import MODELS as CVP_MODELS

from lifters.checkpoint import save_checkpoint
from lifters.config import TrainConfig
from lifters.evaluate import evaluate_run
from lifters.flops import run_cost
from lifters.models.registry import MODELS as REGISTRY
from lifters.train import Trainer, train

OUT = Path(__file__).parent / "out"
# name -> (registered model, reduced bench config). capf / poseformer as bench/capf_vs_poseformer.py; the others
# keep their architecture with fewer / narrower layers so that every model fits the same CPU budget.
BENCH: dict[str, tuple[str, dict[str, Any]]] = {
    "capf": ("capf", CVP_MODELS["capf"]),
    "poseformer": ("poseformer", CVP_MODELS["poseformer"]),
    "strided": ("strided", {"dim": 128, "hidden": 256, "vte_depth": 2}),
    "capf-s": ("capf-s", {"dim": 16, "depth": 1, "temporal_depth": 1, "heads": 4}),
    "plt": ("plt", {"dim": 64}),
    "plt-2": ("plt", {"dim": 64, "stage": 2, "refine_depth": 2}),
    "cdl": ("cdl", {"width": 16, "hidden": 512, "blocks": 2}),
}


def is_temporal(name: str) -> bool:
    return REGISTRY[BENCH[name][0]].temporal


def cost(model: str, cache: str, model_cfg: dict[str, Any], frames: int, tmp: Path) -> dict[str, int]:
    """run_cost of `model` built from `cache` with `model_cfg` (the trainer's own set-up, nothing trained)."""
    cfg = TrainConfig(model=model, cache=cache, out=str(tmp / "cost"), model_cfg=model_cfg, frames=frames, workers=0)
    return run_cost(Trainer(cfg, progress=False))


def untrained_coarse(cache: str, tmp: Path) -> str:
    """A stage-1 plt checkpoint of the paper-size config (random weights): what a paper-size stage 2 is built on,
    for counting its cost."""
    t = Trainer(TrainConfig(model="plt", cache=cache, out=str(tmp / "coarse"), workers=0), progress=False)
    path = tmp / "coarse-paper.pt"
    save_checkpoint(path, {"model": "plt", "model_cfg": t.model_cfg, "weights": t.model.state_dict()})
    return str(path)


def run_one(name: str, args: argparse.Namespace, tmp: Path, runs: dict[str, Path]) -> dict[str, Any]:
    """Train `name` with the shared budget, evaluate its last checkpoint, count its costs -> result dict."""
    model, cfg = BENCH[name]
    cfg = dict(cfg)
    frames = args.frames if is_temporal(name) else 1
    paper_cfg: dict[str, Any] = {}
    if name == "plt-2":
        if "plt" not in runs:
            raise SystemExit("plt-2 refines the plt (stage 1) run: list plt before plt-2 in --models")
        cfg["coarse"] = str(runs["plt"] / "last.pt")
        paper_cfg = {"stage": 2, "coarse": untrained_coarse(args.cache, tmp)}
    run = tmp / name
    t0 = time.perf_counter()
    train(TrainConfig(model=model, cache=args.cache, out=str(run), epochs=10_000, batch_size=args.batch, lr=args.lr,
                      max_steps=args.steps, seed=args.seed, workers=args.workers, eval_every=args.steps,
                      model_cfg=cfg, frames=frames), progress=False)
    train_s = time.perf_counter() - t0
    runs[name] = run
    rep = evaluate_run(run, which="last")
    ev = [json.loads(line) for line in (run / "metrics_log.jsonl").read_text().splitlines()]
    ev = [e for e in ev if e["event"] == "eval"][-1]
    m = rep["metrics"]
    return {"name": name, "model": model, "frames": frames, "bench_cfg": cfg, "steps": args.steps,
            "batch": args.batch, "lr": args.lr, "seed": args.seed,
            "P1_mm": m["P1"]["mean_over_actions"], "P2_mm": m["P2"]["mean_over_actions"],
            "MPJVE_mm": m["MPJVE"].get("mean_over_actions"), "P1_frames_mm": m["P1"]["mean_over_frames"],
            "samples_per_s": ev["samples_per_s"], "data_wait_frac": ev["data_wait_frac"],
            "train_s": round(train_s, 1),
            "bench_cost": cost(model, args.cache, cfg, frames, tmp),
            "paper_cost": cost(model, args.cache, paper_cfg, frames, tmp), "metrics": rep}


def markdown(results: list[dict[str, Any]]) -> str:
    """The markdown table of `results` (one row per lifter)."""
    def cfg_text(r: dict[str, Any]) -> str:
        c = {k: v for k, v in r["bench_cfg"].items() if k != "coarse"}
        return ", ".join(f"{k} {v}" for k, v in c.items()) or "default"

    head = ("| lifter | T | bench config | P1 (mm) | P2 (mm) | MPJVE (mm) | params bench / paper | "
            "GFLOPs/sample bench / paper | train samples/s | data wait |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]

    def mm(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    def params(c: dict[str, int]) -> str:
        frozen = c["params_total"] - c["params"]
        return f"{c['params'] / 1e6:.2f} M" + (f" (+{frozen / 1e6:.2f} M frozen)" if frozen else "")

    for r in results:
        b, p = r["bench_cost"], r["paper_cost"]
        lines.append(
            f"| {r['name']} | {r['frames']} | {cfg_text(r)} | {mm(r['P1_mm'])} | {mm(r['P2_mm'])} | "
            f"{mm(r['MPJVE_mm'])} | {params(b)} / {params(p)} | "
            f"{b['flops'] / 1e9:.3f} / {p['flops'] / 1e9:.3f} | {r['samples_per_s']:.0f} | "
            f"{100 * r['data_wait_frac']:.1f}% |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, default=27, help="window T of the temporal lifters")
    ap.add_argument("--workers", type=int, default=1, help="loader processes (the trainer's default: 1)")
    ap.add_argument("--models", default=",".join(BENCH), help="comma-separated subset of: " + ", ".join(BENCH))
    ap.add_argument("--out", default=str(OUT / "lifters_table.json"))
    ap.add_argument("--from-json", help="print the table of a JSON written earlier; train nothing")
    args = ap.parse_args()
    if args.from_json:
        print(markdown(json.loads(Path(args.from_json).read_text())["results"]))
        return
    if not args.cache:
        ap.error("--cache STORE is required (or --from-json JSON)")
    names = args.models.split(",")
    unknown = [n for n in names if n not in BENCH]
    if unknown:
        raise SystemExit(f"unknown --models {unknown}; choose from {', '.join(BENCH)}")
    tmp = Path(tempfile.mkdtemp(prefix="ctxpose-table-"))
    runs: dict[str, Path] = {}
    results = []
    for name in names:
        res = run_one(name, args, tmp, runs)
        results.append(res)
        print(json.dumps({k: v for k, v in res.items() if k != "metrics"}), flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"cache": args.cache, "args": vars(args), "results": results},
                                             indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
