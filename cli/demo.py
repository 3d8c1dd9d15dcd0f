"""`pipeline demo`: the quick start end to end on built-in synthetic data (synth -> extract -> train -> evaluate)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.rule import Rule

from cli.app import app, console


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for raw data, store and runs.")] = Path("demo"),
    frames: Annotated[int, typer.Option(help="Mocap frames per synthetic sequence.")] = 16,
    steps: Annotated[int, typer.Option(help="Training steps per lifter.")] = 40,
    fresh: Annotated[bool, typer.Option("--fresh", help="Delete OUT first (else reruns resume).")] = False,
) -> None:
    """Synthesize H36M-layout data, extract HRNet-W32 features (Prefect flow on Dask), train and evaluate capf."""
    from cli.datasets import synth_cmd
    from cli.extract import extract
    from cli.lifters import evaluate, train

    if fresh and out.exists():
        shutil.rmtree(out)
    raw, store, run = out / "raw-h36m", out / "store.zarr", out / "runs" / "capf"
    t0 = time.perf_counter()
    console.print(Rule("1/4 synthesize raw H36M-layout data (S1 train, S9 test; 2 actions, 4 cameras)"))
    if not (raw / "S9").exists():
        synth_cmd(dataset="h36m", out=raw, subjects="S1,S9", actions=None, frames=frames, seed=0, size=None)
    else:
        console.print(f"{raw} exists: reusing it")
    console.print(Rule("2/4 extract: the backbone runs once per crop, into the store"))
    extract(dataset="h36m", root=raw, store=store)
    console.print(Rule("3/4 train capf (Context-Aware PoseFormer) from the cache, the small CPU recipe"))
    if (run / "last.pt").exists():
        console.print(f"{run} already trained: reusing it (pass --fresh to start over)")
    else:
        train(model="capf", out=run, cache=str(store), recipe="quick", max_steps=steps, batch_size=32, workers=0,
              eval_every=0)
    console.print(Rule("4/4 evaluate on the test split (S9)"))
    evaluate(run_dir=run, cache=None, flip_test=False, checkpoint="last", device=None, batch_size=None, workers=0,
             save_predictions=False)
    metrics = json.loads((run / "metrics.json").read_text())
    console.print(f"\n[bold green]demo done[/] in {time.perf_counter() - t0:.0f} s: store {store}, run {run}, "
                  f"metrics {run / 'metrics.json'}")
    p1 = metrics.get("mpjpe", metrics.get("P1"))
    if p1 is not None:
        console.print(f"MPJPE (P1): {json.dumps(p1)[:200]}")
