"""capf / poseformer: shapes, gradients, param groups, registry, map usage, a tiny overfit; loss and FLOPs."""

import pytest
import torch
from torch import nn

from lifters.flops import count_flops, count_params
from lifters.losses import mpjpe_loss
from lifters.models.capf import ContextAwarePoseFormer
from lifters.models.param_groups import param_groups
from lifters.models.poseformer import PoseFormer
from lifters.models.registry import build_model
from schemas.arrays import HRNET_W32_LEVELS
from schemas.errors import InputError

TINY_LEVELS = {"s4": (32, 16, 12), "s8": (64, 8, 6), "s16": (128, 4, 3), "s32": (256, 2, 2)}
CHANNELS = {k: s[0] for k, s in TINY_LEVELS.items()}
SMALL = dict(dim=32, depth=2, heads=4, drop_path=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _inputs(b: int = 2, j: int = 17, levels: dict = TINY_LEVELS, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    kp = torch.rand(b, j, 2, generator=g) * 2 - 1
    ref = torch.rand(b, j, 2, generator=g) * 2 - 1
    maps = {k: torch.randn(b, *s, generator=g) for k, s in levels.items()}
    return kp, ref, maps


def test_forward_shapes_default_config_any_map_size():
    torch.manual_seed(0)
    capf, pf = build_model("capf"), build_model("poseformer")
    assert capf.needs_maps is True and pf.needs_maps is False
    other = {k: (c, h + 3, w + 1) for k, (c, h, w) in TINY_LEVELS.items()}
    for levels in (TINY_LEVELS, other):
        kp, ref, maps = _inputs(levels=levels)
        with torch.no_grad():
            assert capf(kp, ref, maps).shape == (2, 17, 3)
            assert pf(kp, ref, maps).shape == (2, 17, 3)
            assert pf(kp).shape == (2, 17, 3)


def test_fp16_maps_and_extra_levels_are_accepted():
    torch.manual_seed(0)
    m = ContextAwarePoseFormer(levels=CHANNELS, **SMALL).eval()
    kp, ref, maps = _inputs()
    half = {k: v.half() for k, v in maps.items()} | {"unused": torch.zeros(2, 1, 1, 1)}
    with torch.no_grad():
        torch.testing.assert_close(m(kp, ref, half), m(kp, ref, {k: v.half().float() for k, v in maps.items()}))


def test_bad_maps_and_shapes_raise_input_error():
    m = ContextAwarePoseFormer(levels=CHANNELS, **SMALL)
    kp, ref, maps = _inputs()
    with pytest.raises(InputError, match="s32"):
        m(kp, ref, {k: v for k, v in maps.items() if k != "s32"})
    with pytest.raises(InputError, match="'s8'"):
        m(kp, ref, maps | {"s8": torch.zeros(2, 63, 8, 6)})
    with pytest.raises(InputError):
        m(kp[:, :16], ref[:, :16], maps)
    with pytest.raises(InputError):
        PoseFormer(**SMALL)(kp[:, :, :1])


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    # the single-frame (kp2d, ref, maps) lifters of this file; strided, capf-s, plt and cdl have their own
    # batch interfaces and are trained in tests/test_lifters_temporal.py and tests/test_lifters_image.py
    for name in ("capf", "poseformer"):
        m = build_model(name, **SMALL, **({"levels": CHANNELS} if name == "capf" else {}))
        kp, ref, maps = _inputs()
        target = torch.randn(2, 17, 3)
        # the offset / weight layers start at zero weight (Deformable DETR init), so the query LayerNorm gets
        # no gradient on the very first step; after one optimizer step every parameter must get one
        opt = torch.optim.SGD(m.parameters(), lr=1e-2)
        for _ in range(2):
            opt.zero_grad()
            mpjpe_loss(m(kp, ref, maps), target).backward()
            opt.step()
        dead = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert dead == [], f"{name}: no gradient for {dead}"


def test_param_groups_put_offsets_at_a_tenth():
    m = ContextAwarePoseFormer(levels=CHANNELS, **SMALL)
    groups = param_groups(m, lr=6.4e-3)
    assert [g["lr"] for g in groups] == [6.4e-3, pytest.approx(6.4e-4)]
    offset_ids = {id(p) for g in groups[1:] for p in g["params"]}
    expect = {id(p) for n, p in m.named_parameters() if "sampling_offsets" in n}
    assert offset_ids == expect and len(expect) == 2 * 2  # weight + bias per deformable layer, depth 2
    all_ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(all_ids) == sorted(id(p) for p in m.parameters())  # every parameter exactly once
    torch.optim.AdamW(groups, weight_decay=0.1)  # accepted as is
    assert len(param_groups(PoseFormer(**SMALL), lr=1e-3)) == 1


def test_unknown_model_lists_valid_names():
    with pytest.raises(InputError, match="unknown model 'videopose'.*capf, capf-s, cdl, plt, poseformer, strided"):
        build_model("videopose")


def test_capf_uses_maps_and_ref_poseformer_does_not():
    torch.manual_seed(0)
    capf = ContextAwarePoseFormer(levels=CHANNELS, **SMALL).eval()
    pf = PoseFormer(**SMALL).eval()
    kp, ref, maps = _inputs(seed=1)
    _, ref2, maps2 = _inputs(seed=2)
    with torch.no_grad():
        base = capf(kp, ref, maps)
        assert (capf(kp, ref, maps2) - base).abs().max() > 1e-3
        assert (capf(kp, ref2, maps) - base).abs().max() > 1e-3
        one_level = maps | {"s16": maps2["s16"]}
        assert (capf(kp, ref, one_level) - base).abs().max() > 1e-3
        torch.testing.assert_close(pf(kp, ref, maps), pf(kp, ref2, maps2), rtol=0, atol=0)


def test_capf_overfits_32_samples():
    torch.manual_seed(0)
    j = 8
    kp, ref, maps = _inputs(b=32, j=j, seed=3)
    target = 0.2 * torch.randn(32, j, 3, generator=torch.Generator().manual_seed(4))
    m = ContextAwarePoseFormer(num_joints=j, levels=CHANNELS, **SMALL)
    opt = torch.optim.AdamW(param_groups(m, 3e-3), weight_decay=0.0)
    losses = []
    for _ in range(40):  # ratio ~10x by step 40 (seeded)
        loss = mpjpe_loss(m(kp, ref, maps), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] / losses[-1] > 5.0, (losses[0], losses[-1])


def test_mpjpe_loss_hand_value():
    target = torch.zeros(1, 2, 3)
    pred = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])
    assert mpjpe_loss(pred, target).item() == pytest.approx(3.0)
    with pytest.raises(ValueError):
        mpjpe_loss(pred, target[:, :1])


def test_count_flops_and_params_hand_values():
    lin = nn.Linear(3, 4)
    assert count_params(lin) == 16
    assert count_flops(lin, (torch.zeros(5, 3),)) == 2 * 5 * 3 * 4
    lin.bias.requires_grad_(False)
    assert count_params(lin) == 12 and count_params(lin, trainable_only=False) == 16


def test_capf_flops_near_paper_for_w32():
    # paper: 0.6 GFLOPs; Table 3 build-up 446 (spatial) + 91 (fusion) + 73 (deformable) = 610 MFLOPs
    torch.manual_seed(0)
    capf, pf = build_model("capf"), build_model("poseformer")
    inputs = _inputs(b=1, levels=HRNET_W32_LEVELS)
    assert capf.training
    f_capf, f_pf = count_flops(capf, inputs), count_flops(pf, inputs)
    assert capf.training  # mode restored
    assert 0.59e9 < f_capf < 0.63e9
    assert 0.43e9 < f_pf < 0.46e9


def test_every_registered_model_declares_the_lifter_contract():
    """Capabilities are plain class attributes of one base (no getattr defaults); the default batch interface is
    model(kp2d, ref, maps) and MPJPE against the target."""
    from lifters.models.base import Lifter
    from lifters.models.registry import MODELS

    assert all(issubclass(m, Lifter) for m in MODELS.values())
    caps = {k: (m.needs_maps, m.needs_joint_features, m.temporal, m.needs_joint_set) for k, m in MODELS.items()}
    assert caps == {"capf": (True, False, False, False), "poseformer": (False, False, False, False),
                    "strided": (False, False, True, False), "capf-s": (False, True, True, False),
                    "plt": (True, False, False, False), "cdl": (True, False, False, True)}
    torch.manual_seed(0)
    pf = PoseFormer(dim=16, depth=1, heads=2, drop_path=0.0).eval()
    kp, ref, maps = _inputs()
    target = torch.zeros(2, 17, 3)
    batch = {"kp2d": kp, "ref": ref, "target": target}
    assert (pf.frames, pf.map_levels) == (1, None)
    with torch.no_grad():
        torch.testing.assert_close(pf.predict_batch(batch), pf(kp, ref))
        torch.testing.assert_close(pf.loss_batch(batch), mpjpe_loss(pf(kp), target))
    assert build_model("plt", levels=CHANNELS, dim=32, heads=4).map_levels == ("s8",)
