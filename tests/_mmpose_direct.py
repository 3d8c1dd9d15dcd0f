"""Test helper: a direct, hook-free mmpose forward computing the documented taps by calling modules in order."""

from __future__ import annotations

import torch


def _branches(transition: torch.nn.ModuleList, y_list: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    """HRNet transition: existing branches pass (or convert), a new branch comes from the last one."""
    out = []
    for i in range(n):
        t = transition[i]
        src = y_list[i] if i < len(y_list) else y_list[-1]
        out.append(t(src) if t is not None else src)
    return out


@torch.no_grad()
def direct_forward(model: torch.nn.Module, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """(B,3,256,192) -> ({s4..s32}, heatmaps) of an mmpose TopdownPoseEstimator, without hooks."""
    bb = model.backbone
    if hasattr(bb, "stage4"):  # HRNet
        h = bb.relu(bb.norm1(bb.conv1(x)))
        h = bb.layer1(bb.relu(bb.norm2(bb.conv2(h))))
        y = bb.stage2(_branches(bb.transition1, [h], 2))
        y = bb.stage3(_branches(bb.transition2, y, 3))
        x4 = _branches(bb.transition3, y, 4)
        taps = {"s8": x4[1].clone(), "s16": x4[2].clone(), "s32": x4[3].clone()}
        y4 = bb.stage4(list(x4))
        taps["s4"] = y4[0]
        heatmaps = model.head((y4[0],))
    else:  # ResNet
        h = bb.maxpool(bb.relu(bb.norm1(bb.conv1(x))))
        feats = []
        for i in range(1, 5):
            h = getattr(bb, f"layer{i}")(h)
            feats.append(h)
        taps = dict(zip(("s4", "s8", "s16", "s32"), feats, strict=True))
        heatmaps = model.head((h,))
    return {k: taps[k] for k in ("s4", "s8", "s16", "s32")}, heatmaps
