"""`pipeline train` and `pipeline evaluate`: parse options and dispatch to `lifters` (imported lazily: torch is
slow to import and `pipeline --help` should stay snappy)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.app import app, console, err_console
from schemas.errors import InputError, UsageError


@contextmanager
def _warnings_to_console() -> Iterator[None]:
    """Show warnings (e.g. a store changed since training) as yellow lines while the block runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, *_a, **_k: err_console.print(f"[yellow]warning:[/] {message}",
                                                                           highlight=False)
        yield


def _model_cfg(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"--model-cfg must be a JSON object, e.g. '{{\"dim\": 64}}' ({e})") from None
    if not isinstance(cfg, dict):
        raise InputError(f"--model-cfg must be a JSON object, got {text!r}")
    return cfg


@app.command()
def train(
    model: Annotated[str, typer.Argument(help="Lifter: capf (Context-Aware PoseFormer), poseformer, capf-s, strided, "
                                     "plt (Lifting by Image), cdl (Cascaded Dimension-Lifting).")],
    out: Annotated[Path | None, typer.Option("--out", help="Run directory (checkpoints, metrics_log.jsonl) "
                                             "[default: runs/MODEL-YYYYmmdd-HHMMSS].", show_default=False)] = None,
    cache: Annotated[str | None, typer.Option("--cache", help="Store to train from (e.g. ./store, the default "
                                              "--store of extract; on --resume: the run's store).")] = None,
    recipe: Annotated[str, typer.Option(help="paper: the model's published recipe (printed; docs/reproduce.md); "
                                        "quick: the small CPU recipe of the demo and tests. Flags override it.")
                      ] = "paper",
    epochs: Annotated[int | None, typer.Option(help="Epochs over the train split [recipe].")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per step [recipe].")] = None,
    lr: Annotated[float | None, typer.Option(help="Base lr; CA-PF offset layers get 0.1x [recipe].")] = None,
    optimizer: Annotated[str | None, typer.Option(help="adam or adamw [recipe].")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Weight decay [recipe].")] = None,
    lr_decay: Annotated[float | None, typer.Option(help="Per-epoch lr factor [recipe].")] = None,
    lr_step: Annotated[str | None, typer.Option(help="Step decay EVERY:FACTOR, e.g. 4:0.9 [recipe].")] = None,
    warmup_epochs: Annotated[int | None, typer.Option(help="Linear lr warm-up epochs [recipe: none].")] = None,
    offset_lr_scale: Annotated[float | None, typer.Option(help="lr factor of capf's offset layers [recipe].")
                               ] = None,
    max_steps: Annotated[int | None, typer.Option(help="The run's length in optimizer steps (over the recipe's "
                                                  "epochs; the plan line says which ends it).")] = None,
    device: Annotated[str | None, typer.Option(help="torch device [default: cpu].")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of init, shuffling and flips [default: 0].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last.pt.")] = False,
    keypoints: Annotated[str | None, typer.Option(help="2D source: gt (labelled 'GT 2D'), a backbone name or an "
                                                  "imported source [recipe: H36M cpn if imported, else the "
                                                  "backbone's detections; 3DHP gt].")] = None,
    backbone: Annotated[str | None, typer.Option(help="Backbone whose maps capf reads (default: the only one).")
                        ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset in the store (default: the only one).")] = None,
    protocol: Annotated[str | None, typer.Option(help="Split protocol: p1 (H36M S1,5,6,7,8 / S9,11), cdl-p2 "
                                                 "(S1,5,6,7,8,9 / S11), 3dhp [default: the dataset's].")] = None,
    train_stride: Annotated[int | None, typer.Option(help="Train on every k-th source frame [recipe].")] = None,
    test_stride: Annotated[int | None, typer.Option(help="Test on every k-th source frame [recipe; 1].")] = None,
    target: Annotated[str | None, typer.Option(help="3D target: annot3 or univ (3DHP univ_annot3) [default: univ "
                                               "on 3DHP, annot3 elsewhere].")] = None,
    flip_aug: Annotated[bool | None, typer.Option("--flip-aug/--no-flip-aug", help="Horizontal flip augmentation, "
                                                  "p=0.5 (map models: needs `extract --flip`) [recipe].")] = None,
    flip_test: Annotated[bool | None, typer.Option("--flip-test/--no-flip-test", help="Flip-test when the run is "
                                                   "evaluated (map models: needs `extract --flip`) [recipe].")
                         ] = None,
    workers: Annotated[int | None, typer.Option(help="Loader processes (0: read in the trainer) [default: cores "
                                                     "available - 1, 1..8].")
                       ] = None,
    eval_every: Annotated[int | None, typer.Option(help="Steps between test evaluations (0: every epoch end) "
                                                   "[default: 0].")] = None,
    model_cfg: Annotated[str | None, typer.Option(help="JSON model options, e.g. '{\"dim\": 64, \"depth\": 2}'.")
                         ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the recipe, rows, parameters and FLOPs; train "
                                          "nothing.")] = False,
    frames: Annotated[int | None, typer.Option(help="Window length T of temporal models (strided, capf-s; odd, "
                                               "e.g. 27, 81, 243) [recipe].")] = None,
) -> None:
    """Train a lifter from a store with its paper's recipe (or --recipe quick); prints the recipe, then trains."""
    from lifters.config import resolve_config, resumed_config
    from lifters.runs import new_run_dir
    from lifters.train import saved_config

    if resume and out is None:
        raise UsageError("--resume needs --out RUN_DIR: the run to continue")
    if not resume and cache is None:
        raise UsageError("--cache STORE is required (the store to train from, e.g. ./store)")
    if out is None:
        out = new_run_dir(model)
        console.print(f"run directory: [bold]{out}[/] (pass --out to choose)", highlight=False)

    given = {"cache": cache, "epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer,
             "weight_decay": weight_decay,
             "offset_lr_scale": offset_lr_scale, "max_steps": max_steps, "device": device, "seed": seed,
             "keypoints": keypoints, "backbone": backbone, "dataset": dataset, "protocol": protocol,
             "train_stride": train_stride, "test_stride": test_stride, "target": target, "flip_aug": flip_aug,
             "flip_test": flip_test, "workers": workers, "eval_every": eval_every,
             "model_cfg": _model_cfg(model_cfg), "frames": frames}
    if resume:
        from lifters.checkpoint import load_checkpoint

        saved = saved_config(out)
        load_checkpoint(out / "last.pt", expect_model=model)
        cfg = resumed_config(saved, {**given, "model": model, "out": str(out)})
    else:
        cfg = resolve_config(model, recipe, {**given, "out": str(out)}, lr_decay=lr_decay, lr_step=lr_step,
                             warmup_epochs=warmup_epochs)
        _print_recipe(cfg)
    with _warnings_to_console():
        if dry_run:
            _dry_run(cfg)
            return
        from lifters.train import train as run

        summary = run(cfg, resume=resume, console=console)
    console.print(f"[green]done[/]: step {summary['step']}, best test P1 {summary['best_p1_mm']:.1f} mm, "
                  f"last {summary['last_p1_mm'] or float('nan'):.1f} mm -> {out}")


def _print_recipe(cfg) -> None:
    """The recipe the run uses, each field with where it comes from (the paper, or a flag)."""
    from lifters.recipes import get_recipe

    r = get_recipe(cfg.model, cfg.recipe)
    table = Table(title=f"recipe: {r.name}", box=None, title_justify="left")
    for col in ("field", "value", "from"):
        table.add_column(col)
    shown = ("optimizer", "lr", "weight_decay", "schedule", "batch_size", "epochs", "frames", "keypoints",
             "train_stride", "test_stride", "protocol", "target", "flip_aug", "flip_test")
    for name in shown:
        value = cfg.lr_schedule.describe() if name == "schedule" else getattr(cfg, name)
        if name == "keypoints" and value == "paper":
            value = "paper (H36M: cpn if imported, else the backbone's detections; 3DHP: GT)"
        elif name == "protocol" and value is None:
            value = "the dataset's standard (h36m: p1, 3dhp: 3dhp)"
        elif name == "target" and value is None:
            value = "annot3; 3DHP: univ (univ_annot3, the official evaluation's)"
        elif name in ("train_stride", "test_stride"):
            value = f"every {value} source frame(s)"
        source = "flag" if name in cfg.overrides else r.cites.get(name, "not stated: this default")
        table.add_row(name, str(value), source)
    console.print(table)


def _dry_run(cfg) -> None:
    from lifters.flops import run_cost
    from lifters.protocol import label_2d
    from lifters.train import Trainer

    t = Trainer(cfg, console=console, progress=False)
    cost = run_cost(t)
    frozen = cost["params_total"] - cost["params"]
    params = f"{cost['params']:,} trainable" + (f" (+{frozen:,} frozen)" if frozen else "")
    table = Table(box=None, show_header=False)
    for k, v in (("model", f"{cfg.model} {t.model_cfg}"), ("store", f"{cfg.cache} ({t.reader.dataset})"),
                 ("2D source", label_2d(cfg.keypoints)), ("maps", _maps_read(t)),
                 ("rows", f"train {len(t.train_rows)}, test {len(t.test_rows)} (row strides {t.train_row_stride} / "
                          f"{t.test_row_stride}, protocol {cfg.protocol or 'standard'}, target {t.target})"),
                 ("steps", f"{t.total_steps} ({t.steps_per_epoch}/epoch, batch {cfg.batch_size})"),
                 ("flip", f"aug {cfg.flip_aug}, test {cfg.flip_test}"),
                 ("parameters", params), ("FLOPs / sample", f"{cost['flops'] / 1e9:.3f} G (1 multiply-add = 2)")):
        table.add_row(f"[bold]{k}[/]", str(v))
    console.print(table)


def _maps_read(t) -> str:
    if t.model.needs_maps:
        return str(t.reader.backbone)
    if t.model.needs_joint_features:
        return f"{t.reader.backbone} joint features"
    return "-"


@app.command()
def evaluate(
    run_dir: Annotated[Path | None, typer.Argument(help="Run directory written by `pipeline train` [default: the "
                                                   "latest run under runs/].", show_default=False)] = None,
    cache: Annotated[str | None, typer.Option("--cache", help="Store to evaluate on (default: the run's).")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset of --cache to test on; another than the run's "
                                                "(e.g. 3dhp for an H36M run) maps the joints and reports PCK/AUC "
                                                "on the common joints.")] = None,
    flip_test: Annotated[bool | None, typer.Option("--flip-test/--no-flip-test", help="Average with the "
                                                   "un-flipped prediction of the flipped input (map models: needs "
                                                   "`extract --flip`) [default: the run's recipe].")] = None,
    target: Annotated[str | None, typer.Option(help="3D target annot3 | univ [default: the run's / the "
                                               "dataset's].")] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    device: Annotated[str | None, typer.Option(help="torch device (default: the run's).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per forward pass.")] = None,
    workers: Annotated[int, typer.Option(help="Loader processes.")] = 0,
    save_predictions: Annotated[bool, typer.Option("--save-predictions", help="Also write predictions.npz (mm).")
                                ] = False,
) -> None:
    """Test-split MPJPE (P1), P-MPJPE (P2), N-MPJPE, MPJVE per action and means (3DHP: PCK/AUC) -> metrics.json."""
    from lifters.evaluate import evaluate_run
    from lifters.runs import latest_run

    if run_dir is None:
        run_dir = latest_run()
        console.print(f"evaluating the latest run: [bold]{run_dir}[/]", highlight=False)
    with _warnings_to_console():
        rep = evaluate_run(run_dir, cache=cache, flip_test=flip_test, which=checkpoint, device=device,
                           batch_size=batch_size, workers=workers, save_predictions=save_predictions,
                           dataset=dataset, target=target)
    for note in rep.get("notes", []):
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)
    m = rep["metrics"]
    t = Table(title=f"{rep['model']} step {rep['step']} on {rep['dataset']} test ({rep['rows']} rows, "
                    f"{rep['2d_source']}{', flip-test' if rep['flip_test'] else ''})")
    for col in ("metric", "mean over actions", "mean over frames"):
        t.add_column(col)
    names = {"P1": "P1 MPJPE (mm)", "P2": "P2 P-MPJPE (mm)", "N-MPJPE": "N-MPJPE (mm)",
             "MPJVE": f"MPJVE (mm/{rep['frame_step']} frame)"}
    for name, label in names.items():
        mo, mf = m[name].get("mean_over_actions"), m[name].get("mean_over_frames")
        t.add_row(label, "-" if mo is None else f"{mo:.2f}", "-" if mf is None else f"{mf:.2f}")
    console.print(t)
    if "3DHP" in m:
        h = m["3DHP"]
        console.print(f"3DHP: PCK@150 {h['PCK150_14']:.1f} / AUC {h['AUC_14']:.1f} (official 14 joints), "
                      f"PCK@150 {h['PCK150_all']:.1f} / AUC {h['AUC_all']:.1f} (all joints); target "
                      f"{rep['target']}")
    if "cross_dataset" in rep:
        x = rep["cross_dataset"]
        console.print(f"cross-dataset: trained on {x['trained_on']}, joints mapped {x['joint_map']}; PCK/AUC "
                      f"(14) on: {', '.join(x['pck_joints'] or [])}", highlight=False)
    console.print(f"-> {Path(run_dir) / 'metrics.json'}")
