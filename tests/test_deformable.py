"""Deformable sampling: known-location samples, initial directions, zero offsets sample the reference."""

import math

import pytest
import torch

from lifters.models.deformable import DeformableContextLayer, grid_init, sample_points


def _norm(px: float, size: int) -> float:
    """Pixel index -> align_corners=True normalized coordinate."""
    return 2.0 * px / (size - 1) - 1.0


def test_hot_pixel_sampled_at_its_centre_and_halfway():
    h, w = 5, 8
    fmap = torch.zeros(1, 1, h, w)
    fmap[0, 0, 2, 3] = 1.0  # row y=2, column x=3
    pts = torch.tensor([[[_norm(3, w), _norm(2, h)],      # on the pixel
                         [_norm(3.5, w), _norm(2, h)],    # halfway to x=4
                         [_norm(3.5, w), _norm(2.5, h)],  # a quarter of its bilinear footprint
                         [_norm(6, w), _norm(0, h)]]])    # elsewhere
    out = sample_points(fmap, pts)
    assert out.shape == (1, 4, 1)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([1.0, 0.5, 0.25, 0.0]))


def test_linear_ramp_is_reproduced_exactly_and_clamped_off_map():
    h, w = 6, 9
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    fmap = torch.stack([2.0 * xs + 10.0 * ys, -xs]).unsqueeze(0)  # (1, 2, H, W), two channels
    pts = torch.tensor([[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [0.25, -0.5], [3.0, 0.0]]])
    out = sample_points(fmap, pts)[0]
    x_px = torch.tensor([0.0, 8.0, 4.0, 5.0, 8.0])  # (u + 1) / 2 * (W - 1); u = 3 is off-map -> border x = 8
    y_px = torch.tensor([0.0, 5.0, 2.5, 1.25, 2.5])
    torch.testing.assert_close(out[:, 0], 2.0 * x_px + 10.0 * y_px)
    torch.testing.assert_close(out[:, 1], -x_px)


def test_grid_init_directions_and_radii():
    g = grid_init(4, 4, 0.01)
    assert g.shape == (4, 4, 2)
    # heads at 0, 90, 180, 270 degrees; point k at (k + 1) * radius
    dirs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    for k in range(4):
        torch.testing.assert_close(g[:, k], dirs * 0.01 * (k + 1), atol=1e-7, rtol=0)
    g8 = grid_init(8, 1, 1.0)  # diagonals land on the unit square's corners
    torch.testing.assert_close(g8[1, 0], torch.tensor([1.0, 1.0]))
    angles = {round(math.degrees(math.atan2(y, x))) % 360 for x, y in g8[:, 0].tolist()}
    assert angles == {0, 45, 90, 135, 180, 225, 270, 315}


def _layer() -> DeformableContextLayer:
    torch.manual_seed(0)
    return DeformableContextLayer([2, 3], dim=8, heads=4, points=2, init_radius=0.05)


def test_initial_locations_follow_grid_init_and_weights_are_uniform():
    layer = _layer()
    b, j = 2, 3
    tokens, pose = torch.randn(b, j, 2, 8), torch.randn(b, j, 8)
    ref = torch.rand(b, j, 2) * 2 - 1
    loc, w = layer.locations_and_weights(tokens, pose, ref)
    assert loc.shape == (b, j, 2, 4, 2, 2) and w.shape == (b, j, 2, 4, 2)
    expect = ref[:, :, None, None, None, :] + grid_init(4, 2, 0.05)
    torch.testing.assert_close(loc, expect.expand_as(loc))
    torch.testing.assert_close(w, torch.full_like(w, 0.5))


def test_zero_offsets_sample_the_reference_point():
    layer = _layer()
    with torch.no_grad():
        layer.sampling_offsets.bias.zero_()
        for proj in layer.value_proj:  # value channel 0 of every head slice reads map channel 0
            proj.weight.zero_()
            proj.bias.zero_()
            proj.weight[0::2, 0] = 1.0
            proj.bias[1::2] = torch.tensor([10.0, 20.0, 30.0, 40.0])  # value channel 1 of head m: a constant
    h, w = 7, 5
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    ramp = 3.0 * xs + ys
    maps = [torch.stack([ramp, torch.zeros_like(ramp)])[None], torch.stack([ramp, ramp, ramp])[None]]
    ref = torch.tensor([[[-1.0, -1.0], [0.5, 0.0], [1.0, 1.0]]])
    tokens, pose = torch.randn(1, 3, 2, 8), torch.randn(1, 3, 8)
    loc, wts = layer.locations_and_weights(tokens, pose, ref)
    torch.testing.assert_close(loc, ref[:, :, None, None, None, :].expand_as(loc))
    out = layer.gather(maps, loc, wts)  # (1, 3, 2, 8)
    # x_px = 0, 3, 4 and y_px = 0, 3, 6 -> 3 x + y = 0, 12, 18
    expect = 3.0 * (ref[0, :, 0] + 1) / 2 * (w - 1) + (ref[0, :, 1] + 1) / 2 * (h - 1)
    torch.testing.assert_close(expect, torch.tensor([0.0, 12.0, 18.0]))
    for level in range(2):
        torch.testing.assert_close(out[0, :, level, 0::2], expect[:, None].expand(3, 4))
        torch.testing.assert_close(out[0, :, level, 1::2], torch.tensor([[10.0, 20.0, 30.0, 40.0]] * 3))


def test_layer_forward_shape_and_level_count_check():
    layer = _layer()
    tokens, pose, ref = torch.randn(2, 3, 2, 8), torch.randn(2, 3, 8), torch.zeros(2, 3, 2)
    maps = [torch.randn(2, 2, 5, 4), torch.randn(2, 3, 3, 2)]
    assert layer(tokens, pose, ref, maps).shape == (2, 3, 2, 8)
    with pytest.raises(ValueError, match="2 feature levels"):
        layer(tokens, pose, ref, maps[:1])
