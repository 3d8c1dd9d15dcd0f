"""Backbone registry, feature taps vs a direct mmpose forward, checkpoints (mmpose and original HRNet layout)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from _mmpose_direct import direct_forward

from pipeline.backbone_specs import BACKBONES
from pipeline.backbones import Backbone, RandomInitWarning, backbone_attrs, build_backbone
from schemas.arrays import HRNET_W32_LEVELS
from schemas.errors import InputError

torch.set_num_threads(2)


def _build(name: str, **kw) -> Backbone:
    if kw.get("checkpoint") is None:
        with pytest.warns(RandomInitWarning, match="RANDOMLY INITIALISED"):
            return build_backbone(name, **kw)
    return build_backbone(name, **kw)


@pytest.fixture(scope="module")
def w32() -> Backbone:
    return _build("hrnet32")


@pytest.fixture(scope="module")
def crops() -> torch.Tensor:
    return torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(1))


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
def test_hrnet32_taps_match_a_direct_forward(w32: Backbone, crops: torch.Tensor) -> None:
    assert w32.levels == HRNET_W32_LEVELS
    assert w32.strides == {"s4": 4, "s8": 8, "s16": 16, "s32": 32} and w32.input_size == (256, 192)
    maps, hm = w32.forward(crops)
    ref, ref_hm = direct_forward(w32.model, crops)
    for lv, (c, h, w) in HRNET_W32_LEVELS.items():
        assert maps[lv].shape == (2, c, h, w) and maps[lv].dtype == torch.float32
        torch.testing.assert_close(maps[lv], ref[lv], rtol=0, atol=1e-6)
    assert hm.shape == (2, 17, 64, 48)
    torch.testing.assert_close(hm, ref_hm, rtol=0, atol=1e-6)
    # the mmpose estimator's own predict path gives the same heatmaps
    torch.testing.assert_close(hm, w32.model.head(w32.model.backbone(crops)), rtol=0, atol=1e-6)


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
def test_random_init_is_deterministic_and_leaves_global_rng(w32: Backbone, crops: torch.Tensor) -> None:
    state = torch.get_rng_state()
    again = _build("hrnet32")
    assert torch.equal(torch.get_rng_state(), state)
    for (k, a), b in zip(w32.model.state_dict().items(), again.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    attrs = again.attrs()
    json.dumps(attrs)
    assert attrs["checkpoint"] == "random-init" and attrs["random_init"] and attrs["checkpoint_sha256"] is None
    assert attrs["channels"] == {"s4": 32, "s8": 64, "s16": 128, "s32": 256}
    assert attrs["levels"]["s32"] == [256, 8, 6] and "pre-hook" in attrs["taps"]


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
def test_attrs_without_a_model_equal_the_built_backbones(w32: Backbone, tmp_path: Path) -> None:
    """The planner writes the store's backbone attributes from the spec alone (no model built): the same dict."""
    assert backbone_attrs(BACKBONES["hrnet32"], None) == w32.attrs()
    ckpt = tmp_path / "w.pth"
    torch.save({"state_dict": w32.model.state_dict()}, ckpt)
    a = backbone_attrs(BACKBONES["hrnet32"], ckpt)
    assert a["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest() and a["random_init"] is False
    assert a["codec"]["heatmap_size"] == [48, 64] and a["levels"]["s4"] == [32, 64, 48]


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
@pytest.mark.parametrize("name", ["hrnet48", "res50"])
def test_other_backbones_tap_shapes(name: str, crops: torch.Tensor) -> None:
    bb = _build(name)
    chans = {"hrnet48": (48, 96, 192, 384), "res50": (256, 512, 1024, 2048)}[name]
    want = {lv: (c, 256 // s, 192 // s) for (lv, s), c in zip(bb.strides.items(), chans, strict=True)}
    assert bb.levels == want
    maps, hm = bb.forward(crops[:1])
    ref, ref_hm = direct_forward(bb.model, crops[:1])
    for lv, shape in want.items():
        assert tuple(maps[lv].shape) == (1, *shape)
        torch.testing.assert_close(maps[lv], ref[lv], rtol=0, atol=1e-5)
    assert hm.shape == (1, 17, 64, 48)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(InputError, match="'hrnet64' is unknown; valid names: hrnet32, hrnet48, res50"):
        build_backbone("hrnet64")
    assert set(BACKBONES) == {"hrnet32", "hrnet48", "res50"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_asked_but_absent() -> None:
    with pytest.raises(InputError, match="CUDA is not available"):
        build_backbone("hrnet32", device="cuda")


@pytest.fixture(scope="module")
def trained(w32: Backbone) -> dict[str, torch.Tensor]:
    """A state dict that differs from the seed-0 init (stands in for trained weights)."""
    g = torch.Generator().manual_seed(5)
    sd = {}
    for k, v in w32.model.state_dict().items():
        sd[k] = v + 0.05 * torch.randn(v.shape, generator=g) if v.is_floating_point() and "running_var" not in k \
            else v.clone()
    return sd


@pytest.fixture(scope="module")
def trained_ref(trained: dict, crops: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """Outputs of a model holding `trained` (the source the checkpoint files are written from)."""
    src = _build("hrnet32")
    src.model.load_state_dict(trained)
    return src.forward(crops[:1])


def _check_loaded(bb: Backbone, w32: Backbone, ref: tuple, crops: torch.Tensor, path: Path) -> None:
    maps, hm = bb.forward(crops[:1])
    base, _ = w32.forward(crops[:1])
    for lv in maps:
        torch.testing.assert_close(maps[lv], ref[0][lv], rtol=0, atol=0)
    torch.testing.assert_close(hm, ref[1], rtol=0, atol=0)
    assert (maps["s4"] - base["s4"]).abs().max() > 1e-3  # really other weights than random init
    assert not bb.random_init and bb.checkpoint_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert bb.attrs()["checkpoint"] == str(path)


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
def test_mmpose_checkpoint_round_trip(tmp_path: Path, w32: Backbone, trained: dict, trained_ref: tuple,
                                      crops: torch.Tensor) -> None:
    path = tmp_path / "hrnet_w32_coco.pth"
    torch.save({"state_dict": trained, "meta": {"epoch": 210, "mmpose_version": "1.3.2"}}, path)
    _check_loaded(build_backbone("hrnet32", checkpoint=path), w32, trained_ref, crops, path)


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
def test_original_hrnet_release_layout(tmp_path: Path, w32: Backbone, trained: dict, trained_ref: tuple,
                                       crops: torch.Tensor) -> None:
    raw = {}
    for k, v in trained.items():  # reverse of the mmpose mapping: the layout of pose_hrnet_w32_256x192.pth
        raw[k.removeprefix("head.") if k.startswith("head.") else k.removeprefix("backbone.")] = v
    assert {"conv1.weight", "layer1.0.conv1.weight", "transition1.0.0.weight",
            "stage2.0.branches.0.0.conv1.weight", "final_layer.weight"} <= set(raw)
    path = tmp_path / "pose_hrnet_w32_256x192.pth"
    torch.save(raw, path)
    _check_loaded(build_backbone("hrnet32", checkpoint=path), w32, trained_ref, crops, path)


def test_checkpoint_missing_or_not_mmpose(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.pth: file not found"):
        build_backbone("hrnet32", checkpoint=tmp_path / "nope.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(InputError, match="not a torch checkpoint loadable with weights_only=True"):
        build_backbone("hrnet32", checkpoint=tmp_path / "text.pth")
    torch.save({"model": {"fc.weight": torch.zeros(2)}, "epoch": 3}, tmp_path / "other.pth")
    with pytest.raises(InputError, match=r"not an mmpose checkpoint: no 'state_dict' .*epoch, model"):
        build_backbone("hrnet32", checkpoint=tmp_path / "other.pth")
    torch.save({"fc.weight": torch.zeros(2)}, tmp_path / "raw.pth")
    with pytest.raises(InputError, match=r"keys are neither mmpose's .* keys: fc.weight"):
        build_backbone("hrnet32", checkpoint=tmp_path / "raw.pth")


@pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
def test_checkpoint_of_another_architecture(tmp_path: Path, w32: Backbone) -> None:
    res50 = _build("res50")
    torch.save({"state_dict": res50.model.state_dict()}, tmp_path / "res50.pth")
    with pytest.raises(InputError, match=r"does not fit backbone 'hrnet32'.*missing keys: backbone.bn2.bias.*"
                                         r"\(1405 in all\); unexpected keys: backbone.layer2.0.bn1.bias.*"
                                         r"\(270 in all\); shape mismatches: backbone.conv1.weight "
                                         r"\(64, 3, 7, 7\) vs model \(64, 3, 3, 3\)"):
        build_backbone("hrnet32", checkpoint=tmp_path / "res50.pth")
    sd = dict(w32.model.state_dict())
    del sd["head.final_layer.bias"]
    sd["head.extra.weight"] = torch.zeros(1)
    sd["head.final_layer.weight"] = torch.zeros(16, 32, 1, 1)
    torch.save({"state_dict": sd}, tmp_path / "edited.pth")
    with pytest.raises(InputError, match=r"missing keys: head.final_layer.bias \(1\); unexpected keys: "
                                         r"head.extra.weight \(1\); shape mismatches: head.final_layer.weight "
                                         r"\(16, 32, 1, 1\) vs model \(17, 32, 1, 1\)"):
        build_backbone("hrnet32", checkpoint=tmp_path / "edited.pth")
