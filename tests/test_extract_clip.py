"""extract_clip: batched, streamed output vs a direct unbatched mmpose forward; bad input; fp16 overflow."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from _mmpose_direct import direct_forward

from pipeline.backbones import Backbone, RandomInitWarning, build_backbone
from pipeline.clip import Clip
from pipeline.crops import flip_crops, warp_crops
from pipeline.extract_clip import QUEUE_DEPTH, ExtractionError, extract_clip
from pipeline.keypoints import coco17_to, crop_to_image
from schemas.camera import Camera
from schemas.errors import InputError

torch.set_num_threads(2)
pytestmark = pytest.mark.e2e  # a full-size mmpose backbone (256x192) forward on the CPU
CAM = Camera(f=np.array([500.0, 500.0]), c=np.array([320.0, 240.0]), width=640, height=480, id="cam0")


def _frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(n)]


def _clip(frames: Callable[[], Iterator[np.ndarray]], image: list[int], x_mm: list[float]) -> Clip:
    L = len(image)
    pose = np.zeros((L, 17, 3), np.float32)
    pose[:, :, 0] = np.asarray(x_mm, np.float32)[:, None]
    pose[:, :, 2] = 4000.0
    return Clip(dataset="synthetic", subject="S1", action="Walk", subaction="1", camera_id="cam0", source="mem.mp4",
                joint_set="h36m17", cameras=[CAM], frame=np.arange(L, dtype=np.int32),
                person=np.zeros(L, np.int32), image=np.asarray(image, np.int32), camera=np.zeros(L, np.int32),
                kp2d_gt=np.full((L, 17, 2), 300, np.float32), pose3d_cam=pose, valid=np.ones(L, bool),
                frames=frames)


@pytest.fixture(scope="module")
def w32() -> Backbone:
    with pytest.warns(RandomInitWarning):
        return build_backbone("hrnet32")


def test_batched_output_matches_direct_unbatched_forward(w32: Backbone) -> None:
    frames = _frames(2)
    clip = _clip(lambda: iter(frames), [0, 0, 1], [-300.0, 250.0, 0.0])  # rows 0, 1 share image 0 (MuCo-like)
    out = list(extract_clip(clip, w32, batch_size=2, flip=True))
    assert [len(o["bbox"]) for o in out] == [2, 1]
    keys = {"bbox", "affine", "kp2d", "kp2d_score", "s4", "s8", "s16", "s32",
            "flip/s4", "flip/s8", "flip/s16", "flip/s32"}
    assert all(set(o) == keys for o in out)
    cat = {k: np.concatenate([o[k] for o in out]) for k in keys}
    assert cat["s4"].dtype == np.float16 and cat["s32"].shape == (3, 256, 8, 6)
    assert cat["kp2d"].shape == (3, 17, 2) and cat["kp2d"].dtype == np.float32
    assert not np.allclose(cat["bbox"][0], cat["bbox"][1])
    w32.model.head.test_cfg = {"flip_test": False}
    for r in range(3):
        crop = warp_crops(frames[clip.image[r]][None], cat["affine"][r:r + 1])
        for prefix, x in (("", crop), ("flip/", flip_crops(crop))):
            ref, ref_hm = direct_forward(w32.model, x)
            for lv, m in ref.items():
                got = torch.from_numpy(cat[prefix + lv][r:r + 1].astype(np.float32))
                torch.testing.assert_close(got, m, rtol=1e-3, atol=1e-3)  # fp16 rounding
            if not prefix:  # detections: mmpose's own head.decode of the direct heatmaps, to image px
                pred = w32.model.head.decode(ref_hm)[0]
                kp_img = crop_to_image(pred.keypoints, cat["affine"][r:r + 1])
                kp, score = coco17_to("h36m17", kp_img, pred.keypoint_scores)
                np.testing.assert_allclose(cat["kp2d"][r], kp[0], atol=1e-3)
                np.testing.assert_allclose(cat["kp2d_score"][r], score[0], atol=1e-5)


def test_streaming_stays_bounded_and_stops_on_close(w32: Backbone) -> None:
    decoded = []

    def frames() -> Iterator[np.ndarray]:
        for i in range(40):
            decoded.append(i)
            yield np.full((480, 640, 3), i, np.uint8)

    clip = _clip(frames, list(range(40)), [0.0] * 40)
    gen = extract_clip(clip, w32, batch_size=1)
    first = next(gen)
    assert first["s4"].shape == (1, 32, 64, 48)
    # the producer runs at most QUEUE_DEPTH batches (+ the one in hand, + one being made) ahead
    assert len(decoded) <= 1 + QUEUE_DEPTH + 2
    gen.close()
    assert not any(t.name.startswith("prefetch S1/") for t in threading.enumerate())
    assert len(decoded) < 40


def test_corrupt_frame_in_the_middle_propagates(w32: Backbone) -> None:
    good = _frames(1)

    def frames() -> Iterator[np.ndarray]:
        yield good[0]
        raise InputError("mem.mp4: cannot decode frame 1 (corrupt packet); re-encode or drop the video")

    clip = _clip(frames, [0, 1, 2], [0.0, 0.0, 0.0])
    gen = extract_clip(clip, w32, batch_size=1)
    assert next(gen)["bbox"].shape == (1, 4)
    with pytest.raises(InputError, match="mem.mp4: cannot decode frame 1"):
        next(gen)

    def broken() -> Iterator[np.ndarray]:
        raise RuntimeError("av.error.InvalidDataError")
        yield good[0]

    with pytest.raises(ExtractionError, match=r"clip S1/Walk 1/cam0 \(mem.mp4\): decoding/cropping failed"):
        list(extract_clip(_clip(broken, [0], [0.0]), w32))
    with pytest.raises(InputError, match=r"frames\(\) ended after 1 images but row 1 needs image 1"):
        list(extract_clip(_clip(lambda: iter(good), [0, 1], [0.0, 0.0]), w32))


def test_bad_input_fails_before_any_forward(w32: Backbone) -> None:
    calls = []

    def frames() -> Iterator[np.ndarray]:
        calls.append(1)
        yield from _frames(2)

    clip = _clip(frames, [0, 1], [0.0, 1e6])  # row 1's root is 1 km to the side: box fully outside
    with pytest.raises(InputError, match=r"clip S1/Walk 1/cam0: row 1: crop box .* mostly outside"):
        next(extract_clip(clip, w32))
    assert not calls
    with pytest.raises(InputError, match="--box 'detector' is unknown"):
        next(extract_clip(clip, w32, box="detector"))
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            next(extract_clip(clip, w32, device="cuda"))


def test_fp16_overflow_fails_the_clip(w32: Backbone) -> None:
    with pytest.warns(RandomInitWarning):
        hot = build_backbone("hrnet32")
    with torch.no_grad():  # scale the last BN of branch 0 in stage 4: s4 values beyond float16
        hot.model.backbone.stage4[-1].branches[0][-1].bn2.weight.mul_(1e6)
    clip = _clip(lambda: iter(_frames(1)), [0], [0.0])
    with pytest.raises(ExtractionError, match=r"clip S1/Walk 1/cam0: level s4 rows 0..0 has \|x\| max .* "
                                              r"beyond float16"):
        list(extract_clip(clip, hot))
