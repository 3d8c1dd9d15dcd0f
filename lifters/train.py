"""The lifter trainer: Adam / AdamW (CA-PF offset layers at `offset_lr_scale` x lr), the recipe's lr schedule
(`lifters.schedule`: per-epoch exponential and step decays), the protocol's split, strides, 2D source and 3D target
(`lifters.protocol`), MPJPE loss on root-relative metres, periodic test-split evaluation, best/last checkpoints,
a JSON-lines log.

Run directory: last.pt, best.pt (lowest test P1; when each is written: `lifters.run_saver`), metrics_log.jsonl
(one JSON object per line: event "start" / "resume" / "eval" / "end"). Resume (`resume=True`) restores weights,
optimizer, step and RNG state from last.pt;
batches are a pure function of (seed, epoch) and the loader has its own generator, so a resumed run repeats
the batches, flips and drop-path draws of an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lifters.checkpoint import (
    check_fingerprint,
    load_checkpoint,
    load_weights,
    rng_state,
    set_rng_state,
    store_fingerprint,
)
from lifters.config import TrainConfig, make_model, model_kwargs
from lifters.data import LiftingData, check_windows, open_reader, split_rows
from lifters.evaluate import predict, quick_p1, to_device
from lifters.interrupt import StopRequest
from lifters.loader import BatchKeys, make_loader
from lifters.models.param_groups import param_groups
from lifters.models.registry import MODELS
from lifters.protocol import (
    check_joint_feature_keypoints,
    joint_feature_keypoints,
    paper_keypoints,
    resolve_flips,
    row_stride,
    target_array,
)
from lifters.recipes import PAPER_2D
from lifters.run_saver import RunSaver
from schemas.device import check_device
from schemas.errors import InputError, Interrupted


class Trainer:
    """Sets up a run from a TrainConfig (store, rows, model, optimizer, loaders; resume) and trains it."""

    def __init__(self, cfg: TrainConfig, console: Console | None = None, progress: bool = True) -> None:
        cfg.check()
        cfg.cache = str(Path(cfg.cache).absolute())  # recorded in the run: `evaluate` works from any directory
        self.cfg = cfg
        self.console = console or Console(stderr=True)
        self.show = progress
        self.out = Path(cfg.out)
        self.device = check_device(cfg.device)
        needs_maps = MODELS[cfg.model].needs_maps
        needs_jf = MODELS[cfg.model].needs_joint_features
        self.notes: list[str] = []
        if cfg.keypoints == PAPER_2D:  # the store's dataset, backbone and maps checked first (their errors first)
            probe = open_reader(cfg.cache, cfg.dataset, cfg.backbone, "gt", need_maps=needs_maps,
                                need_joint_features=needs_jf)
            cfg.keypoints, note = paper_keypoints(cfg.cache, probe.dataset, probe.backbone)
            if needs_jf:  # joint features were sampled at one 2D source: the model's 2D must be that one
                cfg.keypoints, note = joint_feature_keypoints(probe, cfg.keypoints)
            self.notes += [note] if note else []
        self.reader = open_reader(cfg.cache, cfg.dataset, cfg.backbone, cfg.keypoints, need_maps=needs_maps,
                                  need_joint_features=needs_jf)
        if needs_jf:
            check_joint_feature_keypoints(self.reader, cfg.keypoints)
        cfg.dataset = self.reader.dataset
        cfg.joint_set = str(self.reader.attrs["joint_set"])
        if needs_maps or needs_jf:
            cfg.backbone = self.reader.backbone
        self.notes += resolve_flips(cfg, self.reader, needs_maps, needs_jf)
        store_stride = int(self.reader.attrs.get("frame_stride", 1))
        strides = [row_stride(s, store_stride, n) for s, n in ((cfg.train_stride, "train_stride"),
                                                                (cfg.test_stride, "test_stride"))]
        self.notes += [n for _, n in strides if n]
        (self.train_row_stride, _), (self.test_row_stride, _) = strides
        self.target = target_array(self.reader.dataset, cfg.target)
        self.train_rows = split_rows(self.reader, "train", self.train_row_stride, cfg.protocol)
        self.test_rows = split_rows(self.reader, "test", self.test_row_stride, cfg.protocol)
        self.fingerprint = store_fingerprint(self.reader)
        for note in self.notes:
            self.console.print(f"[yellow]note:[/] {note}", highlight=False)
        self.model_cfg = model_kwargs(cfg.model, self.reader, cfg.model_cfg, cfg.frames)
        torch.manual_seed(cfg.seed)
        self.model = make_model(cfg.model, self.model_cfg).to(self.device)
        self.frames = int(self.model.frames)
        if self.model.temporal:
            check_windows(self.reader, cfg.model, self.frames)
        groups = param_groups(self.model, cfg.lr, cfg.offset_lr_scale)
        for g in groups:
            g["base_lr"] = g["lr"]
        optim = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.opt = optim(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.schedule = cfg.lr_schedule
        levels = self.model.map_levels  # a model reading one level gets only that one
        self.train_data = LiftingData(self.reader, self.train_rows, maps=needs_maps, frames=self.frames,
                                      joint_features=needs_jf, levels=levels, target=self.target)
        if cfg.flip_aug:
            self.train_data.check_flip("--flip-aug")
        self.test_data = LiftingData(self.reader, self.test_rows, maps=needs_maps, frames=self.frames,
                                     joint_features=needs_jf, levels=levels, target=self.target)
        if cfg.flip_test:  # asked for by flag without flipped maps: fail now, not after training
            self.test_data.check_flip("--flip-test")
        self.train_keys = BatchKeys(len(self.train_data), cfg.batch_size, shuffle=True, seed=cfg.seed,
                                    flip_p=0.5 if cfg.flip_aug else 0.0)
        self.test_keys = BatchKeys(len(self.test_data), cfg.eval_batch_size, shuffle=False)
        self.steps_per_epoch = self.train_keys.batches_per_epoch
        # --max-steps, when given, is the run's length (past the recipe's epochs if need be); else the epochs
        self.total_steps = cfg.max_steps if cfg.max_steps is not None else cfg.epochs * self.steps_per_epoch
        self.step, self.best = 0, math.inf
        self.saver = RunSaver(self.out, self._payload)
        self.root = int(self.reader.attrs["root_index"])
        self._loaders: tuple | None = None

    def plan(self) -> str:
        """One line: how many steps this run makes and what ends it (the epochs or --max-steps)."""
        by_epochs = self.cfg.epochs * self.steps_per_epoch
        if self.cfg.max_steps is None:
            ends = f"{self.cfg.epochs} epochs end it"
        elif self.total_steps < by_epochs:
            ends = f"--max-steps ends first ({self.cfg.epochs} epochs would be {by_epochs})"
        else:
            ends = f"--max-steps sets the length (past {self.cfg.epochs} epochs = {by_epochs} steps)"
        return (f"plan: {self.total_steps} steps ({self.steps_per_epoch} per epoch, batch {self.cfg.batch_size}); "
                f"{ends}")

    # ---------- state ----------
    def restore(self) -> None:
        """Load last.pt (weights, optimizer, step, best, RNG); warn if the store changed since."""
        path = self.out / "last.pt"
        ckpt = load_checkpoint(path, expect_model=self.cfg.model)
        load_weights(self.model, ckpt, path)
        self.opt.load_state_dict(ckpt["optimizer"])
        self.step, self.best = int(ckpt["step"]), float(ckpt["best_p1_mm"])
        set_rng_state(ckpt["rng"])
        check_fingerprint(ckpt["fingerprint"], self.fingerprint, self.cfg.cache, path)

    def _payload(self) -> dict[str, Any]:
        epoch = self.step // self.steps_per_epoch
        return {"model": self.cfg.model, "model_cfg": self.model_cfg, "config": self.cfg.as_dict(),
                "weights": self.model.state_dict(), "optimizer": self.opt.state_dict(), "step": self.step,
                "epoch": epoch, "best_p1_mm": self.best, "fingerprint": self.fingerprint, "rng": rng_state()}

    def log(self, event: str, **fields: Any) -> None:
        with open(self.out / "metrics_log.jsonl", "a") as f:
            f.write(json.dumps({"event": event, "time": time.time(), **fields}) + "\n")

    def loaders(self) -> tuple:
        if self._loaders is None:
            pin = self.device.type == "cuda"
            self._loaders = (make_loader(self.train_data, self.train_keys, self.cfg.workers, pin, self.cfg.seed),
                             make_loader(self.test_data, self.test_keys, self.cfg.workers, pin, self.cfg.seed))
        return self._loaders

    def set_lr(self, epoch: int) -> float:
        for g in self.opt.param_groups:
            g["lr"] = g["base_lr"] * self.schedule.factor(epoch)
        return self.opt.param_groups[0]["lr"]

    # ---------- evaluation ----------
    def evaluate(self) -> float:
        """Frame-mean test P1 (mm) of the current weights."""
        _, test_loader = self.loaders()
        res = predict(self.model, test_loader, self.test_keys, self.device)
        return quick_p1(res["pred"], res["target"], self.root)

    # ---------- training ----------
    def fit(self) -> dict[str, Any]:
        """Train to `total_steps`; returns a summary (step, epochs, best/last test P1 mm, timing)."""
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        start_step = self.step
        self.log("resume" if start_step else "start", step=start_step, config=cfg.as_dict(), notes=self.notes,
                 model_cfg=self.model_cfg, fingerprint=self.fingerprint, train_rows=len(self.train_rows),
                 test_rows=len(self.test_rows), steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps)
        # data-wait and samples/s are steady-state: the first batch of the run (worker start-up) is kept apart
        stats = {"wait": 0.0, "busy": 0.0, "first": 0.0, "samples": 0, "loss": 0.0, "n": 0}
        last_p1 = None
        train_loader, _ = self.loaders() if self.step < self.total_steps else (None, None)
        columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}  test P1 {task.fields[p1]}"), TimeElapsedColumn(),
                   TimeRemainingColumn()]
        with Progress(*columns, console=self.console, disable=not self.show, transient=False) as bar, \
                StopRequest() as stop:
            task = bar.add_task(f"train {cfg.model}", total=self.total_steps, completed=self.step, loss="-", p1="-")
            self.model.train()
            if self.step < self.total_steps:
                # one loader pass over all remaining steps, across epoch boundaries
                self.train_keys.set_epoch(self.step // self.steps_per_epoch, self.step % self.steps_per_epoch,
                                          steps=self.total_steps - self.step)
                it = iter(train_loader)
                epoch, lr = -1, 0.0
                while self.step < self.total_steps and not stop.requested:
                    if self.step // self.steps_per_epoch != epoch:
                        epoch = self.step // self.steps_per_epoch
                        lr = self.set_lr(epoch)
                    t0 = time.perf_counter()
                    try:
                        batch = next(it)
                    except Exception:
                        if stop.requested:  # Ctrl-C reached the loader processes too
                            break
                        raise
                    t1 = time.perf_counter()
                    loss = self._train_step(batch)
                    t2 = time.perf_counter()
                    if self.step == start_step:  # the first batch includes worker start-up; kept apart
                        stats["first"] += t2 - t0
                    else:
                        stats["wait"] += t1 - t0
                        stats["busy"] += t2 - t0
                        stats["samples"] += len(batch["row"])
                    stats["loss"] += loss
                    stats["n"] += 1
                    self.step += 1
                    end_of_epoch = self.step % self.steps_per_epoch == 0
                    due = (self.step % cfg.eval_every == 0) if cfg.eval_every else end_of_epoch
                    if due or self.step == self.total_steps:
                        last_p1 = self._eval_and_save(epoch, lr, stats)
                        bar.update(task, p1=f"{last_p1:.1f} mm")
                    elif end_of_epoch:
                        self.saver.save()
                    bar.update(task, completed=self.step, loss=f"{loss * 1000:.1f} mm")
        if stop.requested:  # Ctrl-C: save where it stopped (between steps), say how to continue
            self.saver.save(force=True)
            self.log("interrupted", step=self.step)
            raise Interrupted(f"interrupted at step {self.step}; continue with `pipeline train {cfg.model} --out "
                              f"{self.out} --resume`")
        summary = {"step": self.step, "epoch": self.step / self.steps_per_epoch, "best_p1_mm": self.best,
                   "last_p1_mm": last_p1, "steps_this_run": self.step - start_step, "out": str(self.out)}
        self.log("end", **summary)
        return summary

    def _train_step(self, batch: dict) -> float:
        b = to_device(batch, self.device)
        loss = self.model.loss_batch(b)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def _eval_and_save(self, epoch: int, lr: float, stats: dict) -> float:
        p1 = self.evaluate()
        self.model.train()
        if p1 < self.best:
            self.best = p1
            self.saver.improved()
        self.saver.save(force=self.step == self.total_steps)
        busy = stats["busy"]
        self.log("eval", step=self.step, epoch=epoch, lr=lr, test_p1_mm=p1, best_p1_mm=self.best,
                 train_loss_mm=stats["loss"] / max(stats["n"], 1) * 1000.0,
                 data_wait_frac=stats["wait"] / busy if busy else None,
                 samples_per_s=stats["samples"] / busy if busy else None,
                 first_batch_s=stats["first"], steps=stats["n"])
        for k in stats:
            stats[k] = 0 if k in ("samples", "n") else 0.0
        return p1


def train(cfg: TrainConfig, resume: bool = False, console: Console | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Train `cfg` into `cfg.out` (resume from its last.pt with `resume`); returns the fit summary.

    InputError if `cfg.out` already holds a run and `resume` is False, or holds none and `resume` is True."""
    out = Path(cfg.out)
    if resume:
        saved_config(out)  # InputError when there is no run to continue
    elif (out / "last.pt").is_file():
        raise InputError(f"{out} already holds a run (last.pt); pass --resume to continue it or choose another --out")
    trainer = Trainer(cfg, console=console, progress=progress)
    if resume:
        trainer.restore()
    trainer.console.print(trainer.plan(), highlight=False)
    return trainer.fit()


def saved_config(run_dir: str | Path) -> dict[str, Any]:
    """The TrainConfig dict stored in run_dir/last.pt; InputError if there is no run there to continue."""
    path = Path(run_dir) / "last.pt"
    if not path.is_file():
        raise InputError(f"--resume: {run_dir} holds no last.pt to continue; drop --resume to start a new run")
    return load_checkpoint(path)["config"]

