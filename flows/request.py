"""`ExtractRequest`: one `pipeline extract` job, built once by the CLI, checked once, passed whole to the flow.

Adding an extract option means: a field here (with its check in `validate`) and one Typer option in the CLI.
The lists it checks against exist once each: datasets (`pipeline.datasets.registry`), backbones and box modes
(`pipeline.backbone_specs`), devices (`schemas.device`), map encodings (`storage.encodings`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import UsageError

DATA_ENV = "CTXPOSE_DATA"  # folder holding one raw dataset per subfolder: $CTXPOSE_DATA/h36m, .../3dhp, .../muco
DEFAULT_STORE = "store"


def default_root(dataset: str) -> Path:
    """Where `--root` points when not given: $CTXPOSE_DATA/<dataset> when the variable is set, else
    ./data/<dataset>."""
    base = os.environ.get(DATA_ENV)
    return Path(base) / dataset if base else Path("data") / dataset


@dataclass(frozen=True)
class BackboneRequest:
    """What a worker needs to build (and cache) its backbone."""

    name: str
    checkpoint: str | None = None
    device: str = "cpu"

    @property
    def checkpoint_path(self) -> Path | None:
        """The checkpoint file, None for random init."""
        return Path(self.checkpoint) if self.checkpoint else None


@dataclass
class ExtractOptions:
    batch_size: int = 8
    box: str = "root"
    flip: bool = False
    torch_threads: int = 0  # 0: leave torch's default
    joint_features: bool = False  # also cache the maps sampled at the joints (joints/feat), after a clip's maps
    joint_keypoints: str = "gt"  # the 2D source they are sampled at: gt or the backbone's name
    video_decode: str = "cpu"  # where videos are decoded: cpu (PyAV) or cuda (NVDEC)


@dataclass(frozen=True)
class ExtractRequest:
    """Everything one extraction needs. Paths as given (strings, so Prefect shows and stores them as is)."""

    dataset: str
    root: str
    store: str = DEFAULT_STORE
    backbone: str = "hrnet32"
    checkpoint: str | None = None
    device: str = "cpu"
    subjects: tuple[str, ...] | None = None
    actions: tuple[str, ...] | None = None
    frame_stride: int = 1
    flip: bool = False
    batch_size: int = 8
    box: str = "root"
    retries: int = 1
    encoding: str | None = None  # None: the store's default (or the existing group's) map encoding
    shard_rows: int | None = None
    workers: int | None = None  # Dask workers of a local cluster (None: sized to the machine)
    dask_address: str | None = None  # join this scheduler instead of starting a local cluster
    gpus_per_worker: int = 0
    torch_threads: int = 0  # per task; 0: cores / workers on CPU (set by the runner)
    joint_features: bool = False
    joint_keypoints: str = "gt"
    video_decode: str = "cpu"

    def validate(self) -> ExtractRequest:
        """UsageError (exit 2) naming the option and what to do, for anything no run can use; fast (no torch
        import unless a CUDA device is asked for), and creates nothing. Returns self."""
        from pipeline.backbone_specs import BACKBONES, BOX_MODES
        from pipeline.datasets.registry import DATASET_NAMES
        from storage.encodings import parse_encoding

        if self.dataset not in DATASET_NAMES:
            raise UsageError(f"--dataset {self.dataset!r} is unknown; valid names: {', '.join(DATASET_NAMES)}")
        if self.backbone not in BACKBONES:
            raise UsageError(f"--backbone {self.backbone!r} is unknown; valid names: {', '.join(sorted(BACKBONES))}")
        root = Path(self.root)
        if not root.is_dir():
            what = "is not a folder" if root.exists() else "does not exist"
            raise UsageError(
                f"--root {root} {what} (default: ${DATA_ENV}/{self.dataset}, else ./data/{self.dataset}); pass "
                f"--root DIR or set {DATA_ENV} to the folder holding {self.dataset}/, or make a trial dataset with "
                f"`pipeline synth --dataset {self.dataset} --out {root}`")
        store = Path(self.store)
        if store.exists() and not store.is_dir():
            raise UsageError(f"--store {store} is a file; pass a directory path for the store")
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise UsageError(f"--checkpoint {self.checkpoint} does not exist; pass an mmpose (or original HRNet) "
                             f".pth file, or drop --checkpoint for random init")
        if self.device != "cpu":
            from schemas.device import check_device

            check_device(self.device)
        if self.box not in BOX_MODES and not (self.box.endswith(".npz") and Path(self.box).is_file()):
            raise UsageError(f"--box {self.box!r}: use {' or '.join(BOX_MODES)} or an existing .npz of user boxes "
                             f"(one (L, 4) array per clip key, e.g. 'S1/Directions 1/54138969')")
        if self.workers is not None and self.dask_address:
            raise UsageError("pass either --workers (local cluster) or --dask-address (existing cluster), not both")
        if (self.workers is not None and self.workers < 1) or min(self.retries, self.torch_threads,
                                                                   self.gpus_per_worker) < 0:
            raise UsageError("--workers must be >= 1 and --retries, --torch-threads, --gpus-per-worker >= 0")
        if self.frame_stride < 1 or self.batch_size < 1 or (self.shard_rows is not None and self.shard_rows < 1):
            raise UsageError("--frame-stride, --batch-size and --shard-rows must be >= 1")
        if self.encoding is not None:
            parse_encoding(self.encoding)  # unknown names fail here, listing the valid ones
        self._check_video_decode()
        if self.joint_keypoints not in ("gt", self.backbone):
            raise UsageError(f"--joint-keypoints must be gt or {self.backbone!r} (the backbone's detections), "
                             f"got {self.joint_keypoints!r}")
        return self

    def _check_video_decode(self) -> None:
        from pipeline.datasets.video import VIDEO_DECODES

        if self.video_decode not in VIDEO_DECODES:
            raise UsageError(f"--video-decode {self.video_decode!r} is unknown; use {' or '.join(VIDEO_DECODES)}")
        if self.video_decode == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise UsageError("--video-decode cuda needs an NVIDIA GPU (NVDEC); none is available here "
                                 "(torch.cuda.is_available() is False): use --video-decode cpu, the CPU fallback "
                                 "(PyAV software decoding, the default)")

    @property
    def task_resources(self) -> dict[str, float] | None:
        """Dask resources each clip task requires (GPU=n with --gpus-per-worker), else None."""
        return {"GPU": self.gpus_per_worker} if self.gpus_per_worker > 0 else None

    def clip_filters(self) -> dict:
        """The adapter's `list_clips` filters of this request: subjects, actions (lists or None), frame_stride."""
        return {"subjects": list(self.subjects) if self.subjects else None,
                "actions": list(self.actions) if self.actions else None, "frame_stride": self.frame_stride}

    def backbone_request(self) -> BackboneRequest:
        return BackboneRequest(self.backbone, self.checkpoint, self.device)

    def clip_options(self) -> ExtractOptions:
        return ExtractOptions(batch_size=self.batch_size, box=self.box, flip=self.flip,
                              torch_threads=self.torch_threads, joint_features=self.joint_features,
                              joint_keypoints=self.joint_keypoints, video_decode=self.video_decode)
