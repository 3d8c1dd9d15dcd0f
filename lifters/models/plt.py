"""PLT, "Lifting by Image" (progressive learning with image features), single frame, on cached maps.

Inputs: `kp2d` (B, J, 2) screen-normalized 2D joints; `ref` (unused); `maps` {level: (B, C_l, H_l, W_l)}, of
which only `level` is read. Output (B, J, 3): root-relative 3D in metres (the coarse pose in stage 1, the
refined pose in stage 2).

Architecture (dim d = 128, 8 heads, MLP ratio 2):
- Image tokens T_I: the `level` map flattened to H*W tokens, Linear(C_l -> d) plus a fixed 2D sine-cosine
  position code (DETR style, any map size). Pose tokens T_J: Linear(2 -> d)(kp2d) plus a learned joint
  embedding (zero-initialised).
- Transformer Layer (TL): joint self-attention (MSA), cross-attention joints -> image tokens (MCA), FFN; only
  the joint tokens are updated.
- Pose-guided Transformer Layer (PGTL): MSA, then the pose-guided dual attention of the paper's eq. (2):
  A = softmax(Q_J K_I^T / sqrt(d_h)) (normalised over image tokens, per head), T_J += A V_I, T_I += A^T V_J,
  then FFN on the joints.
- Stage 1 ("broad query", `CoarseStage`): TL -> PGTL -> TL over all H*W image tokens, LayerNorm + Linear -> the
  coarse pose. Adaptive Feature Selection (`select_tokens`): the last TL's cross-attention summed over heads and
  joints scores every image token; the top ceil(r * H*W) (r = `keep_ratio` = 0.3) PGTL-updated tokens are kept.
- Stage 2 ("focused exploration"): `refine_depth` = 3 new TLs over the stage-1 joint tokens and the kept image
  tokens, LayerNorm + Linear -> the refined pose. The stage-1 weights are frozen (requires_grad False, kept in
  eval mode).

Training stages (a model option, one run per stage):
  pipeline train plt --cache S --out RUN1                                        # stage 1 (coarse)
  pipeline train plt --cache S --out RUN2 --model-cfg '{"stage": 2, "coarse": "RUN1/best.pt"}'
Stage 2 loads the coarse weights from `coarse` (a stage-1 plt checkpoint with the same dim/heads/level) and
trains only the refinement; its checkpoints hold both stages. Building a stage-2 model (also in `pipeline
evaluate`) reads that file again, so keep RUN1 while RUN2 is in use.

Choices where the paper is silent or the cache differs:
- Level: `level` = "s8" by default (HRNet-W32: 64 channels, 32 x 24 = 768 tokens for a 256 x 192 crop). A
  linear probe on these random-init maps reads joint depth best at stride 8 (R^2 0.65 vs 0.44 at s4, 0.52 at
  s16; ../shared/reference/context-signal.md), and 768 tokens keep the full cross-attention of stage 1 cheap
  (s4 would be 3,072 tokens). Any stored level can be chosen with `{"level": "s4"}`.
- Deviation: the paper fine-tunes its HRNet-W32 image encoder during stage 1; here the encoder is the frozen
  backbone whose maps are cached, so stage 1 trains only the token projections and the transformer.
- d, heads, FFN ratio, position code: not stated; d = 128, 8 heads, ratio 2 (CA-PF's choices in this project).
- Loss: the paper uses MSE; the trainer's default MPJPE (metres) is kept so the logged train loss is in mm
  like every other lifter here. The paper's 5 fps H36M subsampling is `--frame-stride 10`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from lifters.models.base import Lifter
from lifters.models.map_input import choose_level, level_map
from lifters.models.transformer import DropPath, Mlp, SelfAttention
from schemas.arrays import HRNET_W32_LEVELS
from schemas.errors import InputError

W32_CHANNELS: dict[str, int] = {name: shape[0] for name, shape in HRNET_W32_LEVELS.items()}
# options that must agree between a stage-2 model and the stage-1 checkpoint it refines
COARSE_KEYS = ("num_joints", "level", "dim", "heads", "mlp_ratio")
PLT_DEFAULTS = {"num_joints": 17, "level": "s8", "dim": 128, "heads": 8, "mlp_ratio": 2.0}


def sine_position_2d(h: int, w: int, dim: int, device: torch.device | None = None,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(h*w, dim) fixed 2D sine-cosine position code (row-major tokens): dim/2 channels encode y, dim/2 x,
    each half as [sin, cos] of the normalized coordinate times 10000^(-2i/(dim/2)) frequencies."""
    if dim % 4:
        raise ValueError(f"dim {dim} must be divisible by 4 for the 2D position code")
    quarter = dim // 4
    freq = 10000.0 ** (-torch.arange(quarter, dtype=torch.float64) / quarter)
    ys = torch.linspace(0.0, 2 * math.pi, h, dtype=torch.float64)[:, None] * freq  # (h, q)
    xs = torch.linspace(0.0, 2 * math.pi, w, dtype=torch.float64)[:, None] * freq  # (w, q)
    ey = torch.cat([ys.sin(), ys.cos()], -1)[:, None, :].expand(h, w, 2 * quarter)
    ex = torch.cat([xs.sin(), xs.cos()], -1)[None, :, :].expand(h, w, 2 * quarter)
    return torch.cat([ey, ex], -1).reshape(h * w, dim).to(device=device, dtype=dtype)


def select_tokens(tokens: torch.Tensor, scores: torch.Tensor, ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive Feature Selection: keep the k = ceil(ratio * N) highest-scoring tokens per sample.

    tokens (B, N, d), scores (B, N) -> (kept (B, k, d), indices (B, k) int64, by descending score)."""
    if not 0.0 < ratio <= 1.0:
        raise InputError(f"plt keep_ratio must be in (0, 1], got {ratio}")
    k = math.ceil(ratio * tokens.shape[1])
    idx = scores.topk(k, dim=1).indices
    return tokens.gather(1, idx[..., None].expand(-1, -1, tokens.shape[-1])), idx


class CrossAttention(nn.Module):
    """Multi-head attention of queries (B, N, d) over keys/values (B, M, d) -> ((B, N, d), attn (B, h, N, M))."""

    def __init__(self, dim: int, heads: int, drop: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise InputError(f"plt: dim {dim} is not divisible by heads {heads}")
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(drop)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)  # (B, h, n, dh)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = self._split(self.q(x))
        k, v = (self._split(t) for t in self.kv(y).chunk(2, dim=-1))
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        out = (self.drop(attn) @ v).transpose(1, 2).reshape(x.shape)
        return self.drop(self.proj(out)), attn


class PoseGuidedAttention(CrossAttention):
    """The PGTL dual attention: joints (B, N, d), image (B, M, d) -> (joint update (B, N, d), image update
    (B, M, d), A (B, h, N, M)); A is normalised over the image tokens before it is transposed."""

    def __init__(self, dim: int, heads: int, drop: float = 0.0) -> None:
        super().__init__(dim, heads, drop)
        self.v_joint = nn.Linear(dim, dim)
        self.proj_img = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        joint_upd, attn = super().forward(x, y)
        vj = self._split(self.v_joint(x))
        img = (self.drop(attn).transpose(-2, -1) @ vj).transpose(1, 2).reshape(y.shape)
        return joint_upd, self.drop(self.proj_img(img)), attn


class TransformerLayer(nn.Module):
    """TL: T_J += MSA(LN T_J); T_J += MCA(LN T_J, LN T_I); T_J += FFN(LN T_J). With `pose_guided` the MCA is
    the PGTL dual attention and T_I is updated too. forward -> (T_J, T_I, attn (B, h, N, M))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0, drop: float = 0.0, drop_path: float = 0.0,
                 pose_guided: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, heads, drop=drop)
        self.norm_q = nn.LayerNorm(dim, eps=1e-6)
        self.norm_kv = nn.LayerNorm(dim, eps=1e-6)
        self.pose_guided = pose_guided
        self.cross = (PoseGuidedAttention if pose_guided else CrossAttention)(dim, heads, drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, tj: torch.Tensor, ti: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tj = tj + self.drop_path(self.attn(self.norm1(tj)))
        out = self.cross(self.norm_q(tj), self.norm_kv(ti))
        tj = tj + self.drop_path(out[0])
        if self.pose_guided:
            ti = ti + self.drop_path(out[1])
        tj = tj + self.drop_path(self.mlp(self.norm2(tj)))
        return tj, ti, out[-1]


class CoarseStage(nn.Module):
    """Stage 1: tokens, TL -> PGTL -> TL, coarse head. forward(kp2d (B, J, 2), fmap (B, C, H, W)) ->
    (coarse pose (B, J, 3), joint tokens (B, J, d), PGTL-updated image tokens (B, HW, d), scores (B, HW))."""

    def __init__(self, num_joints: int, channels: int, dim: int, heads: int, mlp_ratio: float, drop: float,
                 drop_path: float) -> None:
        super().__init__()
        self.dim = dim
        self.pose_embed = nn.Linear(2, dim)
        self.joint_embed = nn.Parameter(torch.zeros(1, num_joints, dim))
        self.image_embed = nn.Linear(channels, dim)
        self.layers = nn.ModuleList(TransformerLayer(dim, heads, mlp_ratio, drop, drop_path, pose_guided=(i == 1))
                                    for i in range(3))
        self.head = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 3))

    def forward(self, kp2d: torch.Tensor, fmap: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        b, _, h, w = fmap.shape
        pos = sine_position_2d(h, w, self.dim, fmap.device, fmap.dtype)
        ti = self.image_embed(fmap.flatten(2).transpose(1, 2)) + pos  # (B, HW, d)
        tj = self.pose_embed(kp2d) + self.joint_embed
        attn = None
        for layer in self.layers:
            tj, ti, attn = layer(tj, ti)
        scores = attn.sum(dim=(1, 2))  # last TL's attention, summed over heads and joints: (B, HW)
        return self.head(tj), tj, ti, scores


class PLT(Lifter):
    """Lifting by Image; see the module docstring. `levels` maps level name -> channels (from the store)."""

    needs_maps = True

    def __init__(self, num_joints: int = 17, levels: Mapping[str, int] | None = None, level: str = "s8",
                 dim: int = 128, heads: int = 8, mlp_ratio: float = 2.0, stage: int = 1,
                 coarse: str | None = None, refine_depth: int = 3, keep_ratio: float = 0.3, drop: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        if stage not in (1, 2):
            raise InputError(f"plt: stage must be 1 (coarse) or 2 (refinement), got {stage!r}")
        if not 0.0 < keep_ratio <= 1.0:
            raise InputError(f"plt: keep_ratio must be in (0, 1], got {keep_ratio}")
        if dim % 4 or dim % heads:
            raise InputError(f"plt: dim {dim} must be divisible by 4 and by heads {heads}")
        self.num_joints, self.level, self.stage, self.keep_ratio = num_joints, level, stage, keep_ratio
        self.channels = choose_level("plt", levels, level, W32_CHANNELS)
        self.coarse = CoarseStage(num_joints, self.channels, dim, heads, mlp_ratio, drop, drop_path)
        self.refine = None
        if stage == 2:
            self.refine = nn.ModuleList(TransformerLayer(dim, heads, mlp_ratio, drop, drop_path)
                                        for _ in range(refine_depth))
            self.refine_head = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 3))
            if coarse is None:
                raise InputError("plt stage 2 needs the stage-1 run: --model-cfg '{\"stage\": 2, \"coarse\": "
                                 "\"RUN1/best.pt\"}'")
            load_coarse(self, coarse, {"num_joints": num_joints, "level": level, "dim": dim, "heads": heads,
                                       "mlp_ratio": mlp_ratio})
            self.coarse.requires_grad_(False)
            self.coarse.eval()

    @property
    def map_levels(self) -> tuple[str, ...]:
        """The map levels this model reads: only `level` (the trainer loads no other)."""
        return (self.level,)

    def train(self, mode: bool = True) -> PLT:
        super().train(mode)
        if self.stage == 2:
            self.coarse.eval()  # frozen: no dropout / drop-path in the coarse stage
        return self

    def forward(self, kp2d: torch.Tensor, ref: torch.Tensor | None = None,
                maps: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        if kp2d.ndim != 3 or kp2d.shape[1:] != (self.num_joints, 2):
            raise InputError(f"kp2d has shape {tuple(kp2d.shape)}, expected (B, {self.num_joints}, 2)")
        fmap = level_map(maps, self.level, self.channels, kp2d.shape[0], self.coarse.pose_embed.weight.dtype)
        if self.refine is None:
            return self.coarse(kp2d, fmap)[0]
        with torch.no_grad():
            _, tj, ti, scores = self.coarse(kp2d, fmap)
        kept, _ = select_tokens(ti, scores, self.keep_ratio)
        for layer in self.refine:
            tj, kept, _ = layer(tj, kept)
        return self.refine_head(tj)


def load_coarse(model: PLT, path: str | Path, expect: dict) -> None:
    """Copy the stage-1 weights of the plt checkpoint at `path` (a file or a run directory: its best.pt) into
    `model.coarse`; InputError if it is no stage-1 plt checkpoint or its options differ from `expect`."""
    from lifters.checkpoint import load_checkpoint, run_checkpoint

    p = run_checkpoint(path, "plt stage 2: coarse checkpoint",
                       "train stage 1 first (`pipeline train plt --out RUN1`) and pass RUN1/best.pt")
    ckpt = load_checkpoint(p, expect_model="plt")
    cfg = ckpt["model_cfg"]
    if cfg.get("stage", 1) != 1:
        raise InputError(f"plt stage 2: {p} is a stage-{cfg.get('stage')} checkpoint; pass the stage-1 run's")
    saved = {k: cfg.get(k, PLT_DEFAULTS[k]) for k in COARSE_KEYS}
    diff = {k: (saved[k], v) for k, v in expect.items() if saved[k] != v}
    if diff:
        raise InputError(f"plt stage 2: {p} was trained with other options (saved, given): {diff}; "
                         f"use the same values as stage 1")
    state = {k[len("coarse."):]: v for k, v in ckpt["weights"].items() if k.startswith("coarse.")}
    model.coarse.load_state_dict(state)
