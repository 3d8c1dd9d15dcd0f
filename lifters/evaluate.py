"""Evaluation of a trained lifter on a store's test split: predictions and the labelled metrics.

Protocols (units mm, VideoPose3D / CA-PF / official 3DHP conventions, see `lifters.metrics`):
- P1 MPJPE on root-relative poses, the prediction's own root subtracted (pelvis alignment);
- P2 P-MPJPE (per-frame Procrustes: rotation, uniform scale, translation; no reflection); N-MPJPE (scale only);
- each as per-action means, the mean over actions (H36M protocol) and the mean over frames;
- MPJVE over runs of consecutive stored rows of one clip (one step = `frame_step` source frames: the store's
  extraction `frame_stride` x the run's test row stride), mean over all velocity pairs, per action and over actions;
- 3DHP: PCK@150 mm (strict <) and AUC over 0:5:150 mm, on the official 14 joints and on all joints, over frames.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifters import metrics as M
from lifters.checkpoint import check_fingerprint, load_checkpoint, load_weights, store_fingerprint
from lifters.config import TrainConfig, make_model
from lifters.data import LiftingData, open_reader, split_rows
from lifters.flip import unflip_pose_3d
from lifters.loader import BatchKeys, make_loader
from lifters.models.base import Lifter
from lifters.protocol import DATASET_JOINT_SET, has_flipped_inputs, label_2d, paper_keypoints, row_stride, target_array
from schemas.errors import InputError, StoreError
from schemas.splits import get_protocol
from storage.reader import Reader


def to_device(batch: dict, device: torch.device) -> dict:
    nb = device.type == "cuda"
    out = {k: v.to(device, non_blocking=nb) for k, v in batch.items() if k != "maps"}
    if "maps" in batch:
        out["maps"] = {k: v.to(device, non_blocking=nb) for k, v in batch["maps"].items()}
    return out


@torch.no_grad()
def predict(model: Lifter, loader, keys: BatchKeys, device: torch.device, flip_test: bool = False,
            perm: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Run `model` over every batch of `loader` (keys in order, no shuffle) -> numpy dict:
    pred, target (n, J, 3) metres root-relative, row, clip, frame (n,). With `flip_test` a second pass over the
    flipped inputs is un-flipped and averaged with the first."""
    was = model.training
    model.eval()
    try:
        keys.set_epoch(0)
        keys.flip_p = 0.0
        parts = [_pass(model, loader, device)]
        if flip_test:
            keys.flip_p = 1.0
            flipped = _pass(model, loader, device)
            keys.flip_p = 0.0
            if not np.array_equal(flipped["row"], parts[0]["row"]):
                raise RuntimeError("flip-test pass visited other rows")
            pf = unflip_pose_3d(torch.from_numpy(flipped["pred"]), perm).numpy()
            parts[0]["pred"] = (parts[0]["pred"] + pf) / 2
    finally:
        keys.flip_p = 0.0
        model.train(was)
    return parts[0]


def _pass(model: Lifter, loader, device: torch.device) -> dict[str, np.ndarray]:
    acc: dict[str, list[np.ndarray]] = {k: [] for k in ("pred", "target", "row", "clip", "frame")}
    for batch in loader:
        b = to_device(batch, device)
        acc["pred"].append(model.predict_batch(b).float().cpu().numpy())
        for k in ("target", "row", "clip", "frame"):
            acc[k].append(batch[k].numpy())
    return {k: np.concatenate(v) for k, v in acc.items()}


def _protocol(per_frame: np.ndarray, actions: np.ndarray, label: str) -> dict[str, Any]:
    return {"label": label, **M.aggregate(per_frame, actions)}


def mpjve_runs(pred: np.ndarray, gt: np.ndarray, clip: np.ndarray, frame: np.ndarray, stride: int
               ) -> list[tuple[int, int, float]]:
    """(clip, pairs, mpjve) for every run of >= 2 consecutive rows (same clip, frame step == stride)."""
    order = np.lexsort((frame, clip))
    c, f = clip[order], frame[order]
    brk = np.flatnonzero((np.diff(c) != 0) | (np.diff(f) != stride)) + 1
    out = []
    for seg in np.split(np.arange(len(order)), brk):
        if len(seg) >= 2:
            idx = order[seg]
            out.append((int(c[seg[0]]), len(seg) - 1, M.mpjve(pred[idx], gt[idx])))
    return out


def compute_metrics(pred_mm: np.ndarray, gt_mm: np.ndarray, clip: np.ndarray, frame: np.ndarray,
                    clip_actions: list[str], dataset: str, joint_set: str, root: int, stride: int,
                    target: str = "pose3d_cam") -> dict[str, Any]:
    """Labelled metrics dict of (n, J, 3) root-relative predictions and targets in mm (see the module doc)."""
    pred = pred_mm - pred_mm[:, root:root + 1]
    actions = np.asarray([clip_actions[c] for c in clip])
    out: dict[str, Any] = {
        "P1": _protocol(M.mpjpe(pred, gt_mm, per_frame=True), actions,
                        "MPJPE (mm), root-relative, prediction's root subtracted"),
        "P2": _protocol(M.p_mpjpe(pred, gt_mm, per_frame=True), actions,
                        "P-MPJPE (mm), per-frame Procrustes: rotation + uniform scale + translation, no reflection"),
        "N-MPJPE": _protocol(M.n_mpjpe(pred, gt_mm, per_frame=True), actions,
                             "N-MPJPE (mm), per-frame least-squares scale only"),
    }
    runs = mpjve_runs(pred, gt_mm, clip, frame, stride)
    if runs:
        per_action: dict[str, list[tuple[int, float]]] = {}
        for c, n, v in runs:
            per_action.setdefault(clip_actions[c], []).append((n, v))
        pa = {a: float(sum(n * v for n, v in xs) / sum(n for n, _ in xs)) for a, xs in sorted(per_action.items())}
        total = sum(n for _, n, _ in runs)
        out["MPJVE"] = {"label": f"MPJVE (mm per step of {stride} frame(s)), over runs of consecutive rows per clip",
                        "per_action": pa, "mean_over_actions": float(np.mean(list(pa.values()))),
                        "mean_over_frames": float(sum(n * v for _, n, v in runs) / total), "pairs": int(total)}
    else:
        out["MPJVE"] = {"label": "MPJVE: no clip has two consecutive test rows", "mean_over_frames": None}
    if dataset == "3dhp":
        j14 = M.MPI_PCK_14_JOINTS if joint_set == "mpi17" else M.H36M_PCK_14_JOINTS
        out["3DHP"] = {
            "label": f"PCK@150 mm (strict <) and AUC over 0:5:150 mm (%), over frames, targets from {target}",
            "PCK150_14": M.pck(pred, gt_mm, 150.0, joints=j14), "AUC_14": M.auc(pred, gt_mm, joints=j14),
            "PCK150_all": M.pck(pred, gt_mm, 150.0), "AUC_all": M.auc(pred, gt_mm),
            "joints_14": list(j14)}
    return out


def quick_p1(pred_m: np.ndarray, target_m: np.ndarray, root: int) -> float:
    """Frame-mean P1 in mm of metre predictions (used for periodic evaluation while training)."""
    pred = pred_m - pred_m[:, root:root + 1]
    return float(M.mpjpe(pred * 1000.0, target_m * 1000.0))


def choose_checkpoint(run_dir: Path, which: str) -> Path:
    if which not in ("best", "last"):
        raise InputError(f"--checkpoint must be 'best' or 'last', got {which!r}")
    path = run_dir / f"{which}.pt"
    if not path.is_file():
        have = sorted(p.name for p in run_dir.glob("*.pt")) if run_dir.is_dir() else []
        raise InputError(f"{run_dir}: no {which}.pt (found: {', '.join(have) or 'nothing'}); "
                         f"train with `pipeline train MODEL --out {run_dir}` first")
    return path


def evaluate_run(run_dir: str | Path, cache: str | Path | None = None, flip_test: bool | None = None,
                 which: str = "best", device: str | None = None, batch_size: int | None = None,
                 workers: int = 0, save_predictions: bool = False, dataset: str | None = None,
                 target: str | None = None) -> dict[str, Any]:
    """Evaluate a run's checkpoint on the test split of `cache` (default: the store it was trained on).

    `dataset`: another dataset than the training one (cross-dataset, e.g. H36M-trained on a 3DHP store): its
    standard protocol, 2D source and target; joints mapped into the model's joint set (`schemas.joints`).
    `flip_test` None: the run's (recipe) setting, off with a note when the store has no flipped maps; True asks
    for it (a clear error without them). `target`: annot3 | univ (None: the run's, or the dataset's standard one).
    Writes and returns `run_dir/metrics.json`; with `save_predictions` also `predictions.npz` (mm)."""
    run_dir = Path(run_dir)
    path = choose_checkpoint(run_dir, which)
    ckpt = load_checkpoint(path)
    cfg = TrainConfig.from_dict(ckpt["config"])
    if cache is None and not Path(cfg.cache).exists():  # the recorded store is gone: say which, never "extract"
        raise StoreError(f"{run_dir}: the store this run was trained on, {cfg.cache}, does not exist (moved or "
                         "deleted); pass --cache STORE to evaluate on a store at another path")
    cache = str(cache or cfg.cache)
    dev = torch.device(device or cfg.device)
    model = make_model(ckpt["model"], ckpt["model_cfg"])
    load_weights(model, ckpt, path)
    model.to(dev)
    needs_jf = model.needs_joint_features
    cross = dataset is not None and dataset != cfg.dataset
    keypoints = paper_keypoints(cache, dataset)[0] if cross else cfg.keypoints
    reader = open_reader(cache, dataset or cfg.dataset, cfg.backbone, keypoints, need_maps=model.needs_maps,
                         need_joint_features=needs_jf)
    fp = store_fingerprint(reader)
    same = None if cross else check_fingerprint(ckpt["fingerprint"], fp, cache, path)
    notes: list[str] = []
    model_js = cfg.joint_set or DATASET_JOINT_SET[str(cfg.dataset)]
    store_stride = int(reader.attrs.get("frame_stride", 1))
    stride = 1 if cross else row_stride(cfg.test_stride, store_stride, "test_stride")[0]
    rows = split_rows(reader, "test", stride, None if cross else cfg.protocol)
    frame_step = store_stride * stride  # source frames between consecutive rows (MPJVE's step)
    target_name = target or (None if cross else cfg.target)
    data = LiftingData(reader, rows, maps=model.needs_maps, frames=model.frames,
                       joint_features=needs_jf, levels=model.map_levels,
                       target=target_array(reader.dataset, target_name), joint_set=model_js)
    if flip_test is None:
        flip_test = cfg.flip_test and has_flipped_inputs(reader, model.needs_maps, needs_jf)
        if cfg.flip_test and not flip_test:
            notes.append(f"flip-test off: {cache}/{reader.dataset} has no flipped maps (`pipeline extract --flip`)")
    if flip_test:
        data.check_flip("--flip-test")
    keys = BatchKeys(len(data), batch_size or cfg.eval_batch_size, shuffle=False)
    loader = make_loader(data, keys, workers, pin_memory=dev.type == "cuda")
    res = predict(model, loader, keys, dev, flip_test=flip_test, perm=data.perm)
    pred_mm, gt_mm = res["pred"] * 1000.0, res["target"] * 1000.0
    report = {
        "run": str(run_dir), "checkpoint": path.name, "model": ckpt["model"], "step": int(ckpt["step"]),
        "epoch": int(ckpt["epoch"]), "cache": cache, "dataset": reader.dataset, "split": "test",
        "protocol": get_protocol(reader.dataset, None if cross else cfg.protocol).name,
        "keypoints": keypoints, "2d_source": label_2d(keypoints), "target": data.target,
        "backbone": reader.backbone if model.needs_maps or needs_jf else None, "frames": data.frames,
        "test_stride": stride, "frame_step": frame_step, "rows": int(len(rows)), "flip_test": flip_test,
        "notes": notes, "fingerprint": {"checkpoint": ckpt["fingerprint"], "store": fp, "match": same},
        "metrics": compute_metrics(pred_mm, gt_mm, res["clip"], res["frame"], _clip_actions(reader),
                                   reader.dataset, data.joint_set.name, data.joint_set.root, frame_step,
                                   target=data.target),
    }
    if cross:
        report["cross_dataset"] = {
            "trained_on": cfg.dataset, "joint_map": f"{reader.attrs['joint_set']} -> {model_js}",
            "joints": list(data.joint_set.names),
            "pck_joints": [data.joint_set.names[j] for j in report["metrics"]["3DHP"]["joints_14"]]
            if "3DHP" in report["metrics"] else None}
    (run_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    if save_predictions:
        np.savez(run_dir / "predictions.npz", pred_mm=pred_mm, gt_mm=gt_mm, row=res["row"], clip=res["clip"],
                 frame=res["frame"])
    return report


def _clip_actions(reader: Reader) -> list[str]:
    return [c.action for c in reader.clip_table]

