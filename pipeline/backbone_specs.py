"""The registered top-down backbones (mmpose COCO configs, 256x192) and the crop box modes: the light tables
that argument checks read without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

INPUT_SIZE = (256, 192)  # (H, W) crop px
HEATMAP_SIZE = (64, 48)  # (H, W) heatmap px, stride 4
NUM_KEYPOINTS = 17  # COCO
RANDOM_SEED = 0
STRIDES = {"s4": 4, "s8": 8, "s16": 16, "s32": 32}


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: mmpose config file name, family and per-level channels (strides 4/8/16/32)."""

    name: str
    config_name: str
    family: str  # "hrnet" | "resnet"
    channels: tuple[int, int, int, int]

    def levels(self) -> dict[str, tuple[int, int, int]]:
        h, w = INPUT_SIZE
        return {lv: (c, h // s, w // s) for (lv, s), c in zip(STRIDES.items(), self.channels, strict=True)}


BACKBONES: dict[str, BackboneSpec] = {s.name: s for s in (
    BackboneSpec("hrnet32", "td-hm_hrnet-w32_8xb64-210e_coco-256x192.py", "hrnet", (32, 64, 128, 256)),
    BackboneSpec("hrnet48", "td-hm_hrnet-w48_8xb32-210e_coco-256x192.py", "hrnet", (48, 96, 192, 384)),
    BackboneSpec("res50", "td-hm_res50_8xb64-210e_coco-256x192.py", "resnet", (256, 512, 1024, 2048)),
)}

# How the crop box of a frame is chosen: the GT root +-1 m (CA-PF) or the GT 2D bbox x1.25; a .npz of user
# boxes (one (L, 4) x0,y0,x1,y1 px array per clip key) is the third way.
BOX_MODES = ("root", "kp2d")
