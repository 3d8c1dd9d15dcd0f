"""Top-down heatmap backbones from mmpose's bundled COCO configs, with multi-scale feature taps.

Taps (as in CA-PoseFormer's `pose_hrnet.py`): HRNet gives the stage-4 *output* of branch 0 (stride 4) plus the
stage-4 *inputs* of branches 1-3 (strides 8/16/32), read with a forward hook and a forward pre-hook on
`backbone.stage4`; `multiscale_output` stays False (its extra fuse layers are in no COCO checkpoint).
ResNet-50 (SimpleBaseline) gives the outputs of `backbone.layer1..4`. The model's own heatmap head runs in the
same forward, so detections and maps come from one pass.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pipeline.backbone_specs import (
    BACKBONES,
    HEATMAP_SIZE,
    INPUT_SIZE,
    NUM_KEYPOINTS,
    RANDOM_SEED,
    STRIDES,
    BackboneSpec,
)
from pipeline.crops import IMAGENET_MEAN, IMAGENET_STD
from pipeline.mmpose_compat import config_dir, load_mmpose, mmpose_version
from schemas.device import check_device
from schemas.errors import InputError


class RandomInitWarning(UserWarning):
    """The backbone has no checkpoint: features and detections come from random weights."""


TAPS = {
    "hrnet": "s4 = stage4 output of branch 0 (forward hook on backbone.stage4); "
             "s8/s16/s32 = stage4 inputs of branches 1-3 (forward pre-hook on backbone.stage4), "
             "as CA-PoseFormer; multiscale_output=False",
    "resnet": "s4/s8/s16/s32 = outputs of backbone.layer1..layer4 (forward hooks)",
}



def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_raw_release(keys: set[str]) -> bool:
    """Original HRNet / SimpleBaseline release layout: unprefixed `conv1.weight` ... `final_layer.weight`."""
    return "conv1.weight" in keys and "final_layer.weight" in keys


def map_release_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original release keys -> mmpose keys: `final_layer.*`, `deconv_layers.*` -> `head.*`; others
    `backbone.*`.

    mmpose's HRNet and ResNet use the release's module names (conv1, bn1, layer1, transition1, stage2..4,
    branches, fuse_layers), so only the prefix changes.
    """
    out = {}
    for k, v in state.items():
        k = k.removeprefix("module.")
        head = k.startswith(("final_layer.", "deconv_layers."))
        out[("head." if head else "backbone.") + k] = v
    return out


def _few(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items)} in all)" if len(items) > n else f" ({len(items)})")


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint and return its state dict with mmpose keys; InputError if it is none of:
    an mmpose checkpoint (`{'state_dict': {backbone.*, head.*}, 'meta': ...}`), a bare mmpose state dict,
    an original HRNet / SimpleBaseline release state dict (`conv1.weight`, ..., `final_layer.weight`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--checkpoint {path}: file not found; give an mmpose checkpoint (.pth) or omit the "
                         "option for random-init weights")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch raises many types for non-checkpoint files)
        raise InputError(f"--checkpoint {path}: not a torch checkpoint loadable with weights_only=True "
                         f"({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not isinstance(obj, dict):
        raise InputError(f"--checkpoint {path}: not an mmpose checkpoint (a {type(obj).__name__}, "
                         "expected a dict with 'state_dict')")
    state = obj.get("state_dict", obj)
    tensors = isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values())
    if not tensors:
        raise InputError(f"--checkpoint {path}: not an mmpose checkpoint: no 'state_dict' of tensors "
                         f"(top-level keys: {_few(sorted(map(str, obj)))})")
    keys = {k.removeprefix("module.") for k in state}
    if any(k.startswith(("backbone.", "head.")) for k in keys):
        return {k.removeprefix("module."): v for k, v in state.items()}
    if _is_raw_release(keys):
        return map_release_keys(state)
    raise InputError(f"--checkpoint {path}: not an mmpose checkpoint: keys are neither mmpose's (backbone.*, "
                     f"head.*) nor an original HRNet release's (conv1.weight, final_layer.weight); "
                     f"keys: {_few(sorted(keys))}")


def check_state_matches(name: str, path: Path, model_state: Mapping[str, torch.Tensor],
                        ckpt: Mapping[str, torch.Tensor]) -> None:
    """InputError naming missing / unexpected / shape-mismatched keys if `ckpt` is for another architecture.

    Missing `num_batches_tracked` buffers are tolerated (old releases lack them).
    """
    missing = sorted(k for k in model_state if k not in ckpt and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in ckpt if k not in model_state)
    shapes = sorted(f"{k} {tuple(ckpt[k].shape)} vs model {tuple(model_state[k].shape)}"
                    for k in ckpt if k in model_state and ckpt[k].shape != model_state[k].shape)
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys: {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_few(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches: {_few(shapes)}")
        raise InputError(f"--checkpoint {path} does not fit backbone {name!r} "
                         f"({BACKBONES[name].config_name}); is it for another architecture? "
                         + "; ".join(parts))


class Backbone:
    """An mmpose top-down model with feature taps. Build with `build_backbone`.

    `forward(crops)` takes (B, 3, 256, 192) float32 ImageNet-normalized RGB crops and returns
    ({level: (B, C, H, W) float32}, heatmaps (B, 17, 64, 48) float32).
    """

    def __init__(self, spec: BackboneSpec, model: torch.nn.Module, device: torch.device,
                 checkpoint: Path | None, checkpoint_sha256: str | None, channels_last: bool) -> None:
        self.spec = spec
        self.name = spec.name
        self.config_name = spec.config_name
        self.model = model
        self.device = device
        self.checkpoint = checkpoint
        self.checkpoint_sha256 = checkpoint_sha256
        self.random_init = checkpoint is None
        self.channels_last = channels_last
        self.levels: dict[str, tuple[int, int, int]] = spec.levels()
        self.strides: dict[str, int] = dict(STRIDES)
        self.input_size: tuple[int, int] = INPUT_SIZE
        self.codec_cfg: dict[str, Any] = dict(model.cfg.codec)
        self._taps: dict[str, torch.Tensor] = {}
        self._install_hooks()

    def _install_hooks(self) -> None:
        bb = self.model.backbone
        if self.spec.family == "hrnet":
            def pre(_m: torch.nn.Module, args: tuple) -> None:
                xs = args[0]  # list of 4 branch inputs; the module mutates this list in place
                self._taps.update(s8=xs[1], s16=xs[2], s32=xs[3])

            def post(_m: torch.nn.Module, _args: tuple, out: Any) -> None:
                self._taps["s4"] = out[0]

            bb.stage4.register_forward_pre_hook(pre)
            bb.stage4.register_forward_hook(post)
        else:
            for i, lv in enumerate(STRIDES, start=1):
                def post(_m: torch.nn.Module, _args: tuple, out: torch.Tensor, lv: str = lv) -> None:
                    self._taps[lv] = out

                getattr(bb, f"layer{i}").register_forward_hook(post)

    def forward(self, crops: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(B,3,256,192) normalized crops -> ({level: (B,C,H,W) float32}, heatmaps (B,17,64,48) float32)."""
        if crops.ndim != 4 or tuple(crops.shape[1:]) != (3, *self.input_size):
            raise InputError(f"backbone {self.name}: crops must be (B, 3, {self.input_size[0]}, "
                             f"{self.input_size[1]}), got {tuple(crops.shape)}")
        crops = crops.to(self.device, non_blocking=True)
        if self.channels_last:
            crops = crops.contiguous(memory_format=torch.channels_last)
        self._taps.clear()
        with torch.inference_mode():
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"):
                feats = self.model.backbone(crops)
                heatmaps = self.model.head(feats)
            maps = {lv: self._taps[lv].float().contiguous() for lv in STRIDES}
        self._taps.clear()
        return maps, heatmaps.float()

    __call__ = forward

    def attrs(self) -> dict[str, Any]:
        """JSON-ready description for the store's backbones/<name> attributes."""
        return backbone_attrs(self.spec, self.checkpoint, self.checkpoint_sha256, self.codec_cfg)


def backbone_attrs(spec: BackboneSpec, checkpoint: Path | None, checkpoint_sha256: str | None = None,
                   codec_cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The store's backbones/<name> attributes of `spec` with `checkpoint` (None: random init), without building
    the model: the heatmap codec is read from the mmpose config, the checkpoint's sha256 from the file."""
    if codec_cfg is None:
        from mmengine.config import Config

        codec_cfg = dict(Config.fromfile(str(config_dir() / spec.config_name)).codec)
    if checkpoint is not None and checkpoint_sha256 is None:
        checkpoint_sha256 = file_sha256(Path(checkpoint))
    levels = spec.levels()
    random_init = checkpoint is None
    return {
        "name": spec.name,
        "config": spec.config_name,
        "mmpose_version": mmpose_version(),
        "checkpoint": str(checkpoint) if checkpoint is not None else "random-init",
        "checkpoint_sha256": checkpoint_sha256,
        "random_init": random_init,
        "random_seed": RANDOM_SEED if random_init else None,
        "input_size": list(INPUT_SIZE),
        "heatmap_size": list(HEATMAP_SIZE),
        "num_keypoints": NUM_KEYPOINTS,
        "keypoint_set": "coco17",
        "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "order": "RGB"},
        "strides": dict(STRIDES),
        "channels": {lv: c for lv, (c, _, _) in levels.items()},
        "levels": {lv: list(s) for lv, s in levels.items()},
        "taps": TAPS[spec.family],
        "codec": {k: (list(v) if isinstance(v, tuple) else v) for k, v in codec_cfg.items()},
    }


def check_checkpoint(name: str, checkpoint: Path) -> None:
    """InputError unless `checkpoint` loads (weights_only) and its keys and shapes fit backbone `name`, checked
    against the model built on the meta device (no weights allocated or initialised): seconds, not a run."""
    state = read_checkpoint(Path(checkpoint))
    mm = load_mmpose()
    with torch.device("meta"), warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        model = mm.init_model(str(mm.config_path(BACKBONES[name].config_name)), checkpoint=None, device="meta")
    check_state_matches(name, Path(checkpoint), model.state_dict(), state)


def build_backbone(name: str, checkpoint: Path | None = None, device: str = "cpu",
                   channels_last: bool | None = None) -> Backbone:
    """Build a registered backbone in eval mode on `device` (channels_last defaults to True on CUDA).

    Without `checkpoint` the weights are random (torch default init, seed 0, deterministic) and a
    `RandomInitWarning` is raised as a warning.
    """
    if name not in BACKBONES:
        raise InputError(f"--backbone {name!r} is unknown; valid names: {', '.join(sorted(BACKBONES))}")
    dev = check_device(device)
    spec = BACKBONES[name]
    ckpt_state = read_checkpoint(Path(checkpoint)) if checkpoint is not None else None
    mm = load_mmpose()
    config = mm.config_path(spec.config_name)
    if not config.is_file():
        raise InputError(f"mmpose config {config} is missing; reinstall mmpose==1.3.2")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(dataset_meta|metainfo config file).*")
            model = mm.init_model(str(config), checkpoint=None, device="cpu")
    sha = None
    if ckpt_state is not None:
        check_state_matches(name, Path(checkpoint), model.state_dict(), ckpt_state)
        model.load_state_dict(ckpt_state, strict=False)
        sha = file_sha256(Path(checkpoint))
    else:
        warnings.warn(f"backbone {name!r} is RANDOMLY INITIALISED (no --checkpoint; seed {RANDOM_SEED}): its "
                      "feature maps and 2D detections are not those of a trained pose detector. Pass "
                      "--checkpoint FILE (an mmpose or original HRNet .pth) for real features.",
                      RandomInitWarning, stacklevel=2)
    model.eval().requires_grad_(False)
    if channels_last is None:
        channels_last = dev.type == "cuda"
    model = model.to(dev, memory_format=torch.channels_last) if channels_last else model.to(dev)
    path = Path(checkpoint) if checkpoint is not None else None
    return Backbone(spec, model, dev, path, sha, channels_last)
