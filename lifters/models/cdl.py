"""Cascaded Dimension-Lifting (CDL, AAAI'21) on one cached map level, single frame.

Inputs: `maps` {level: (B, C_l, H, W)} of which only `level` (default "s4", the stride-4 map: 32 x 64 x 48 for a
256 x 192 HRNet-W32 crop) is read; `kp2d` and `ref` are not inputs of the prediction (CDL needs no external 2D
detector). Output (B, J, 3): root-relative 3D in metres, at the reference neck->knee scale (see below).

Architecture (width w = 64, C = 64 depth bins):
- Context branch: 2 x [Conv3x3, BN, ReLU] (C_l -> w) on the map.
- Bone-Joint heatmap block: bone heatmaps (one per parent -> child bone) from [Conv3x3, BN, ReLU, Conv1x1] on the
  context; joint heatmaps from the context concatenated with the bone heatmaps, same layout.
- Depth-Centric block: a dilated-convolution block (dilations 2 and 4) on the context, fused with the joint
  heatmaps, gives the depth-centric volume (C channels = depth bins, each pixel's joint heatmap placed in the
  channel of its joint's depth bin) and, in parallel, a 1x1 ordinal head: C - 1 logits of P(d > c) per pixel.
- 2.5D by soft-argmax: a final head on [context, bones, joints, volume] gives one heatmap per joint; (u, v) is
  its soft-argmax (map-normalized), z the heatmap-weighted mean over pixels of the ordinal expected depth
  sum_c P(d > c) (bin units, mapped to metres by `depth_range_m`).
- Lifting block (Martinez-style): Linear(3J -> 1024), BN, ReLU, dropout, then 5 residual blocks of
  2 x [Linear(1024), BN, ReLU, dropout], then Linear(1024 -> 3J).

Scale normalisation (paper eq. 10): training targets are multiplied by G / geo(target), geo = the neck->knee
geodesic (summed bone lengths, mean of the two legs), G = `geodesic_mm` (the paper's 1,077 mm H36M-train mean)
or, by default (None), the running mean of geo over the training targets seen so far (a saved buffer), i.e. the
training set's own mean. Predictions are at that scale (the paper, too, finally drops its scale regressor).

Losses (`loss_batch`; paper's weights unknown, chosen here so the terms start at similar magnitudes; override
with model option `loss_weights`): L1 pose (sum over xyz, mean over joints, metres) x 1; joint + bone heatmap
MSE (sum over pixels, mean over maps) x 0.01; depth-volume MSE (sum over pixels, mean over bins) x 0.01;
ordinal binary cross-entropy at the joints' 2D positions x 0.1; soft-argmax (u, v) L1 x 0.1. The 2D targets are
the batch's `ref` (the run's 2D source mapped into map coordinates: GT with the default `--keypoints gt`).

Training steps (the paper trains "the previous network and 3D lifting block sequentially"):
- Default (`end_to_end` false): one run trains both, but the 2.5D input of the lifter is detached, so the pose
  loss never reaches the 2.5D heads; they learn from their own supervision only, the lifter from their current
  estimates. Without the detach, the pose loss through an untrained lifter drives the soft-argmax heatmaps to
  uniform and the 2D never leaves the crop centre (measured on maps that are Gaussians at the GT joints: uv error
  stuck at 10.7 map px for 600 steps; 0.2 px with the detach; docs/benchmarks.md).
- Fine-tuning (the paper's second step): `{"init": "RUN1/best.pt", "end_to_end": true}` starts from a cdl
  checkpoint (same architecture options; a run directory means its best.pt) and lets the pose loss reach the
  heads. Building such a model (also in `pipeline evaluate`) reads that file again, so keep RUN1.

Deviations and choices where the paper is silent:
- The paper trains a ResNet-50 (ImageNet-initialised) end to end on 256 x 256 crops and upsamples its stride-32
  features by deconvolutions; here the backbone is the frozen HRNet whose stride-4 map is cached, so only the
  heads and the lifter train, and no upsampling is needed.
- One run trains everything jointly (the paper trains the 2.5D network first, then the lifter); heatmap sigma
  2 px on the map (the paper's bone sigma shrinks over epochs: fixed here, `bone_sigma_px`); metric depth range
  +-1 m around the root (`depth_range_m`); dropout 0.5 (Martinez); the ordinal loss is evaluated at the joints
  (the paper's per-pixel depth d(w, h) is undefined off the body); z is read from the ordinal head, not from a
  per-joint (J x C x H x W) volume, which would need 3.3 M logits per crop.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lifters.models.base import Lifter
from lifters.models.deformable import sample_points
from lifters.models.heatmaps import (
    bin_to_depth,
    bone_heatmaps,
    depth_to_bin,
    depth_volume,
    gaussian_heatmaps,
    geodesic,
    neck_knee_paths,
    ordinal_targets,
    soft_argmax_2d,
)
from lifters.models.map_input import choose_level, level_map
from lifters.models.plt import W32_CHANNELS
from schemas.errors import InputError
from schemas.joints import JOINT_SETS

LOSS_WEIGHTS = {"pose": 1.0, "heatmap": 0.01, "volume": 0.01, "ordinal": 0.1, "uv": 0.1}


def conv_bn_relu(cin: int, cout: int, dilation: int = 1) -> nn.Sequential:
    """Conv3x3 (same size) -> BN -> ReLU: (B, cin, H, W) -> (B, cout, H, W)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BatchNorm1dAnyBatch(nn.BatchNorm1d):
    """BatchNorm1d that uses its running statistics for a training batch of one row (the last, short batch of
    an epoch) instead of raising."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


def fc_bn_relu(cin: int, cout: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, cout), BatchNorm1dAnyBatch(cout), nn.ReLU(inplace=True), nn.Dropout(dropout))


class ResidualLifter(nn.Module):
    """Martinez et al.'s lifting MLP: (B, n_in) -> (B, n_out); `blocks` residual blocks of width `hidden`."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 1024, blocks: int = 5, dropout: float = 0.5) -> None:
        super().__init__()
        self.inp = fc_bn_relu(n_in, hidden, dropout)
        self.blocks = nn.ModuleList(nn.Sequential(fc_bn_relu(hidden, hidden, dropout),
                                                  fc_bn_relu(hidden, hidden, dropout)) for _ in range(blocks))
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for blk in self.blocks:
            x = x + blk(x)
        return self.out(x)


class CascadedDimensionLifting(Lifter):
    """CDL lifter; see the module docstring. `levels` maps level name -> channels (from the store)."""

    needs_maps = True
    needs_joint_set = True

    def __init__(self, num_joints: int = 17, levels: Mapping[str, int] | None = None, level: str = "s4",
                 joint_set: str = "h36m17", width: int = 64, depth_bins: int = 64, depth_range_m: float = 1.0,
                 hidden: int = 1024, blocks: int = 5, dropout: float = 0.5, sigma_px: float = 2.0,
                 bone_sigma_px: float = 2.0, geodesic_mm: float | None = None,
                 loss_weights: Mapping[str, float] | None = None, end_to_end: bool = False,
                 init: str | None = None) -> None:
        super().__init__()
        self.end_to_end = bool(end_to_end)
        if joint_set not in JOINT_SETS or JOINT_SETS[joint_set].num_joints != num_joints:
            raise InputError(f"cdl: joint_set {joint_set!r} does not have {num_joints} joints "
                             f"(known: {', '.join(f'{k} ({v.num_joints})' for k, v in JOINT_SETS.items())})")
        if depth_bins < 2 or depth_range_m <= 0:
            raise InputError(f"cdl: depth_bins must be >= 2 and depth_range_m > 0, got {depth_bins}, {depth_range_m}")
        bad = set(loss_weights or {}) - set(LOSS_WEIGHTS)
        if bad:
            raise InputError(f"cdl: unknown loss_weights {sorted(bad)}; known: {', '.join(LOSS_WEIGHTS)}")
        js = JOINT_SETS[joint_set]
        self.num_joints, self.level, self.bins, self.depth_range = num_joints, level, depth_bins, depth_range_m
        self.sigma, self.bone_sigma, self.fixed_geo_m = sigma_px, bone_sigma_px, geodesic_mm
        self.weights = {**LOSS_WEIGHTS, **(loss_weights or {})}
        self.bones = js.bones()
        self.geo_paths = neck_knee_paths(js)
        self.channels = choose_level("cdl", levels, level, W32_CHANNELS)
        nb, j = len(self.bones), num_joints
        self.context = nn.Sequential(conv_bn_relu(self.channels, width), conv_bn_relu(width, width))
        self.bone_head = nn.Sequential(conv_bn_relu(width, width), nn.Conv2d(width, nb, 1))
        self.joint_head = nn.Sequential(conv_bn_relu(width + nb, width), nn.Conv2d(width, j, 1))
        self.dilated = nn.Sequential(conv_bn_relu(width, width, 2), conv_bn_relu(width, width, 4))
        self.depth_fuse = conv_bn_relu(width + j, width)
        self.volume_head = nn.Conv2d(width, depth_bins, 1)
        self.ordinal_head = nn.Conv2d(width, depth_bins - 1, 1)
        self.final_head = nn.Sequential(conv_bn_relu(width + nb + j + depth_bins, width), nn.Conv2d(width, j, 1))
        self.lifter = ResidualLifter(3 * j, 3 * j, hidden, blocks, dropout)
        self.register_buffer("geo_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("geo_count", torch.zeros((), dtype=torch.float64))
        if init is not None:
            load_init(self, init)

    @property
    def map_levels(self) -> tuple[str, ...]:
        """The map levels this model reads: only `level` (the trainer loads no other)."""
        return (self.level,)

    def heads(self, fmap: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, C_l, H, W) map -> bone (B, nb, H, W), joint (B, J, H, W), volume (B, bins, H, W), ordinal
        (B, bins - 1, H, W) logits, uv (B, J, 2) map-normalized, z (B, J) metres, pose (B, J, 3) metres."""
        ctx = self.context(fmap)
        bone = self.bone_head(ctx)
        joint = self.joint_head(torch.cat([ctx, bone], 1))
        dfeat = self.depth_fuse(torch.cat([self.dilated(ctx), joint], 1))
        volume, ordinal = self.volume_head(dfeat), self.ordinal_head(dfeat)
        uv, probs = soft_argmax_2d(self.final_head(torch.cat([ctx, bone, joint, volume], 1)))
        pixel_bin = torch.sigmoid(ordinal).sum(1)  # (B, H, W) expected bin index, in [0, bins - 1]
        zbin = (probs * pixel_bin[:, None]).flatten(2).sum(-1) + 0.5  # (B, J), bin centre coordinate
        z = bin_to_depth(zbin, self.depth_range, self.bins)
        x = torch.cat([uv, (z / self.depth_range)[..., None]], -1)  # 2.5D, each coordinate ~[-1, 1]
        if not self.end_to_end:
            x = x.detach()
        pose = self.lifter(x.flatten(1)).view(-1, self.num_joints, 3)
        return {"bone": bone, "joint": joint, "volume": volume, "ordinal": ordinal, "uv": uv, "z": z, "pose": pose}

    def _fmap(self, maps: Mapping[str, torch.Tensor] | None, batch: int) -> torch.Tensor:
        return level_map(maps, self.level, self.channels, batch, self.lifter.out.weight.dtype)

    def forward(self, kp2d: torch.Tensor, ref: torch.Tensor | None = None,
                maps: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        return self.heads(self._fmap(maps, kp2d.shape[0]))["pose"]

    def reference_geodesic(self, geo: torch.Tensor) -> torch.Tensor:
        """G (metres, scalar tensor): `geodesic_mm` / 1000, or the running mean of the training targets'
        geodesics `geo` (B,) (updated here while training)."""
        if self.fixed_geo_m is not None:
            return geo.new_tensor(self.fixed_geo_m / 1000.0)
        if self.training:
            self.geo_sum += geo.detach().double().sum()
            self.geo_count += geo.shape[0]
        if self.geo_count == 0:
            raise InputError("cdl: no reference geodesic yet (train first or pass geodesic_mm)")
        return (self.geo_sum / self.geo_count).to(geo.dtype)

    def normalized_target(self, target: torch.Tensor) -> torch.Tensor:
        """(B, J, 3) root-relative metres -> the same scaled to the reference neck->knee geodesic G."""
        geo = geodesic(target, self.geo_paths).clamp_min(1e-6)
        return target * (self.reference_geodesic(geo) / geo)[:, None, None]

    def loss_batch(self, batch: dict) -> torch.Tensor:
        """Weighted sum of the pose, heatmap, volume, ordinal and soft-argmax losses (module docstring)."""
        ref, target = batch["ref"], batch["target"]
        out = self.heads(self._fmap(batch.get("maps"), ref.shape[0]))
        h, w = out["joint"].shape[-2:]
        tgt = self.normalized_target(target)
        joint_gt = gaussian_heatmaps(ref, h, w, self.sigma)
        bone_gt = bone_heatmaps(ref, self.bones, h, w, self.bone_sigma)
        _, dbin = depth_to_bin(tgt[..., 2], self.depth_range, self.bins)
        vol_gt = depth_volume(joint_gt, dbin, self.bins)
        ord_logits = sample_points(out["ordinal"], ref)  # (B, J, bins - 1) at the joints
        terms = {
            "pose": (out["pose"] - tgt).abs().sum(-1).mean(),
            "heatmap": ((out["joint"] - joint_gt) ** 2).sum((2, 3)).mean()
            + ((out["bone"] - bone_gt) ** 2).sum((2, 3)).mean(),
            "volume": ((out["volume"] - vol_gt) ** 2).sum((2, 3)).mean(),
            "ordinal": F.binary_cross_entropy_with_logits(ord_logits, ordinal_targets(dbin, self.bins)),
            "uv": (out["uv"] - ref).abs().sum(-1).mean(),
        }
        return sum(self.weights[k] * v for k, v in terms.items())


def load_init(model: CascadedDimensionLifting, path: str | Path) -> None:
    """Start `model` from the weights (and reference geodesic) of the cdl checkpoint at `path` (a file or a run
    directory: its best.pt); InputError if it is missing, not a cdl checkpoint, or of other architecture options."""
    from lifters.checkpoint import load_checkpoint, load_weights, run_checkpoint

    p = run_checkpoint(path, "cdl init: checkpoint",
                       "train first (`pipeline train cdl --out RUN1`) and pass RUN1/best.pt")
    load_weights(model, load_checkpoint(p, expect_model="cdl"), p)
