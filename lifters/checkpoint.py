"""Lifter checkpoints and the store fingerprint they carry.

A checkpoint is a `torch.save`d dict of tensors and plain types only (loaded with `weights_only=True`):
  format, version, model (name), model_cfg, config (the TrainConfig as a dict), weights (state_dict),
  optimizer (state_dict), step, epoch, best_p1_mm, fingerprint (str), rng {"torch": ByteTensor, "cuda": [...]}.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from schemas.errors import InputError
from storage.reader import Reader

FORMAT = "ctxpose-lifter-checkpoint"
VERSION = 1


class StoreChangedWarning(UserWarning):
    """The store differs from the one the checkpoint was trained on (fingerprint mismatch)."""


def store_fingerprint(reader: Reader) -> str:
    """sha256 hex of what the lifter sees of a store: dataset attrs, clip table (incl. status), row count,
    the backbone's attrs and per-clip status, and the 2D source name."""
    ds = reader.ds
    clips = [[c.subject, c.action, c.subaction, c.camera, c.start, c.length, c.status] for c in reader.clip_table]
    doc: dict[str, Any] = {"dataset": reader.dataset, "attrs": reader.attrs, "clips": clips, "rows": reader.num_rows,
                           "keypoints": reader.keypoints, "backbone": reader.backbone}
    if reader.backbone is not None:
        doc["backbone_attrs"] = dict(reader.group["backbones"][reader.backbone].attrs)
        doc["backbone_status"] = np.asarray(ds.status(reader.backbone)).tolist()
    blob = json.dumps(doc, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def check_fingerprint(saved: str, current: str, cache: str | Path, where: str | Path) -> bool:
    """True if equal; else a StoreChangedWarning naming both fingerprints."""
    if saved == current:
        return True
    warnings.warn(f"store {cache} changed since {where} was trained: checkpoint store fingerprint {saved[:16]}, "
                  f"store now {current[:16]}; metrics may not be comparable", StoreChangedWarning, stacklevel=2)
    return False


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict) -> None:
    """Atomic `torch.save` (write a temp file, then rename), so a kill never leaves a half-written file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch's zip writer reports a full disk as a RuntimeError
        tmp.unlink(missing_ok=True)
        cause = e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0]
        raise InputError(f"{path}: cannot write the checkpoint ({cause}); free disk space or make the run "
                         "directory writable, then continue with --resume (the previous checkpoint is intact)") \
            from None


def load_checkpoint(path: Path, expect_model: str | None = None) -> dict:
    """Load with `weights_only=True`; InputError if it is not a lifter checkpoint or is of another model."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no checkpoint there; train first (`pipeline train MODEL --out {path.parent}`)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle/zip errors come in many types
        raise InputError(f"{path}: cannot load as a lifter checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} file (written by `pipeline train`)")
    if expect_model is not None and ckpt["model"] != expect_model:
        raise InputError(f"{path} is a checkpoint of model {ckpt['model']!r}, not {expect_model!r}; use another "
                         f"--out for {expect_model!r} or train {ckpt['model']!r}")
    return ckpt


def run_checkpoint(path: str | Path, what: str, hint: str) -> Path:
    """A checkpoint file given as a file or a run directory (then its best.pt); InputError "`what` PATH does not
    exist; `hint`" (e.g. what="cdl init: checkpoint", hint = how to make one) if it does not exist."""
    p = Path(path)
    if p.is_dir():
        p = p / "best.pt"
    if not p.is_file():
        raise InputError(f"{what} {p} does not exist; {hint}")
    return p


def load_weights(model: torch.nn.Module, ckpt: dict, path: Path) -> None:
    """Strict state-dict load; InputError naming missing/unexpected/mismatched keys (another model's weights)."""
    own = model.state_dict()
    w = ckpt["weights"]
    missing = sorted(set(own) - set(w))
    unexpected = sorted(set(w) - set(own))
    shapes = sorted(k for k in set(own) & set(w) if tuple(own[k].shape) != tuple(w[k].shape))
    if missing or unexpected or shapes:
        parts = [f"{name}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes))
                 if keys]
        raise InputError(f"{path}: weights do not fit model {ckpt['model']!r} with config {ckpt['model_cfg']} "
                         f"({'; '.join(parts)}); the checkpoint is of another model or config")
    model.load_state_dict(w)
