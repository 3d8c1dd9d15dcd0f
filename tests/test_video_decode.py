"""Where videos are decoded (`extract --video-decode`): the CPU path decodes, the CUDA path is bound through the
clip's frame source, and without an NVIDIA GPU it fails with one line naming the CPU fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from flows.request import ExtractRequest
from pipeline.datasets.registry import get_adapter
from pipeline.datasets.video import iter_video_frames
from pipeline.synth import synth_dataset
from schemas.errors import InputError, UsageError


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    synth_dataset("h36m", root, subjects=["S1"], actions=["Directions 1"], frames=3)
    clips, _ = get_adapter("h36m").list_clips(root)
    return root, clips[0]


def test_decoded_on_binds_the_decoder_of_the_clips_frames(clip) -> None:
    root, c = clip
    assert c.decoded_on("cpu") is c
    cpu = list(c.frames())
    assert len(cpu) == 3 and cpu[0].dtype == np.uint8 and cpu[0].shape == (1002, 1000, 3)
    np.testing.assert_array_equal(cpu[2], next(iter_video_frames(root / c.source, [2], decode="cpu")))
    cuda = c.decoded_on("cuda")
    assert cuda.frames.func is iter_video_frames and cuda.frames.keywords == {"decode": "cuda"}
    assert cuda.frames.args[0] == root / c.source and c.frames.keywords == {}
    assert cuda.key == c.key and cuda.length == c.length


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: NVDEC may work")
def test_cuda_decode_without_a_gpu_names_the_cpu_fallback(clip, tmp_path: Path) -> None:
    root, c = clip
    with pytest.raises(InputError, match=r"Directions 1\.54138969\.mp4: cuda \(NVDEC\) decoding failed .*"
                                         r"rerun with --video-decode cpu"):
        list(c.decoded_on("cuda").frames())
    with pytest.raises(UsageError, match=r"--video-decode cuda needs an NVIDIA GPU .* use --video-decode cpu, the "
                                         r"CPU fallback"):
        ExtractRequest(dataset="h36m", root=str(root), store=str(tmp_path / "s"), video_decode="cuda").validate()
    with pytest.raises(UsageError, match=r"--video-decode 'nvdec' is unknown; use cpu or cuda"):
        ExtractRequest(dataset="h36m", root=str(root), store=str(tmp_path / "s"), video_decode="nvdec").validate()
    assert not (tmp_path / "s").exists()
