"""Planning: list the dataset's clips, allocate their rows in the store, create the backbone group."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flows.work import BackboneRequest
from pipeline.backbone_specs import BACKBONES
from pipeline.backbones import backbone_attrs
from pipeline.clip import Clip
from pipeline.datasets.base import FAILED, no_clips_message
from pipeline.datasets.registry import get_adapter
from schemas.errors import InputError
from storage.store import DEFAULT_SHARD_ROWS, Store


@dataclass
class Plan:
    store: str
    dataset: str
    clips: list[tuple[int, Clip]]  # (clip index, clip) still to do
    total_clips: int
    done_clips: int
    skips: list = field(default_factory=list)  # adapter skips (file, reason, kind)

    @property
    def failures(self) -> list[dict]:
        """Clips that failed at planning (an unreadable annotation file): clip, source, error (the flow's table)."""
        return [{"clip": s.clip, "source": s.source, "error": s.reason} for s in self.skips if s.kind == FAILED]


def make_plan(dataset: str, root: str | Path, store: str | Path, req: BackboneRequest,
              subjects: list[str] | None = None, actions: list[str] | None = None, frame_stride: int = 1,
              flip: bool = False, codec: str | None = None, shard_rows: int = DEFAULT_SHARD_ROWS) -> Plan:
    """Create/open the store, allocate every clip (idempotent) and return the clips not yet DONE."""
    adapter = get_adapter(dataset)
    clips, skips = adapter.list_clips(Path(root), subjects=subjects, frame_stride=frame_stride, actions=actions)
    if not clips:
        raise InputError(no_clips_message(dataset, Path(root), skips))
    st = Store.create(store)
    ds = st.create_dataset(dataset, adapter.joint_set, fps=adapter.fps,
                           source_root=str(Path(root).resolve()), shard_rows=shard_rows, frame_stride=frame_stride,
                           optional_rows=tuple(clips[0].optional_rows()))
    idx = ds.allocate([c.meta() for c in clips], [c.length for c in clips], [c.cameras for c in clips],
                      [c.fps for c in clips])
    spec = BACKBONES[req.name]  # levels and attributes from the spec: no model is built in the planning process
    ds.add_backbone(req.name, spec.levels(), attrs=backbone_attrs(spec, req.checkpoint_path), codec=codec, flip=flip)
    pending = set(ds.pending(req.name))
    todo = [(i, c) for i, c in zip(idx, clips, strict=True) if i in pending]
    return Plan(str(store), dataset, todo, len(clips), len(clips) - len(todo), skips)
