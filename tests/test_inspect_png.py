"""render_inspect writes a non-blank PNG of the expected size with skeletons and level heatmaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.inspect_png import channel_energy, render_inspect
from schemas.arrays import HRNET_W32_LEVELS
from schemas.errors import InputError
from schemas.joints import H36M_17


def test_render_inspect_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    crop = np.full((256, 192, 3), 40, np.uint8)
    kp_gt = rng.uniform(20, 170, (17, 2))
    kp_det = kp_gt + rng.normal(0, 5, (17, 2))
    maps = {lv: rng.random(shape).astype(np.float16) for lv, shape in HRNET_W32_LEVELS.items()}
    out = render_inspect(crop, kp_gt, kp_det, H36M_17.parents, maps, tmp_path / "sub" / "row0.png", title="row 0")
    assert out.is_file()
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (360, 1200, 3)  # 5 panels x 2.4 in x 100 dpi, 3.6 in high
    assert img.std() > 20 and len(np.unique(img.reshape(-1, 3), axis=0)) > 200
    green = (img[..., 1] > 200) & (img[..., 0] < 80) & (img[..., 2] < 80)
    red = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert green[:, :240].sum() > 50 and red[:, :240].sum() > 50  # both skeletons drawn on the crop panel


def test_channel_energy_and_bad_crop(tmp_path: Path) -> None:
    m = np.zeros((2, 3, 4), np.float32)
    m[0, 1, 2], m[1, 1, 2] = 3.0, 4.0
    e = channel_energy(m)
    assert e.shape == (3, 4) and e[1, 2] == pytest.approx(5.0) and e.sum() == pytest.approx(5.0)
    with pytest.raises(InputError, match=r"crop must be \(H, W, 3\) uint8"):
        render_inspect(np.zeros((256, 192), np.uint8), None, None, H36M_17.parents, {}, tmp_path / "x.png")
