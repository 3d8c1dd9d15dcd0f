"""Everything an extraction can check before it starts a Prefect server or a Dask cluster, or creates a store:
the raw root's layout (listing its clips, with why each file was skipped), the store path (an existing store's
schema and this dataset's settings) and the checkpoint (its keys against the backbone). Bad input fails here, in
seconds, and leaves nothing behind; the caller holds the store's lock (refused at once if another run writes it).
"""

from __future__ import annotations

from pathlib import Path

from flows.request import ExtractRequest
from pipeline.datasets.base import FAILED, no_clips_message
from pipeline.datasets.registry import get_adapter
from schemas.errors import InputError, StoreError
from storage.store import DEFAULT_SHARD_ROWS, Store


def check_store_target(req: ExtractRequest, joint_set: str) -> None:
    """StoreError if --store cannot take this run: a non-empty folder that is no store, a store of another schema
    version, or this dataset there with another joint set, shard size or frame stride."""
    path = Path(req.store)
    if not path.exists() or not any(path.iterdir()):
        return
    if not (path / "zarr.json").is_file():
        raise StoreError(f"--store {path} exists, is not empty and is not a ctxpose store; choose an empty or new "
                         "path")
    store = Store.open(path)  # schema and version checked here
    if req.dataset not in store.datasets():
        return
    have = store.dataset(req.dataset).attrs
    want = {"joint_set": joint_set, "shard_rows": req.shard_rows or have.get("shard_rows", DEFAULT_SHARD_ROWS),
            "frame_stride": req.frame_stride}
    for key, value in want.items():
        if have.get(key) != value:
            raise StoreError(f"--store {path}/{req.dataset} has {key}={have.get(key)!r}, this run asks for "
                             f"{value!r}; use another --store (or the store's {key})")


def preflight(req: ExtractRequest) -> None:
    """The checks of this module, cheapest first; CacheError (one line) on the first problem."""
    clips, skips = get_adapter(req.dataset).list_clips(Path(req.root), **req.clip_filters())
    if not clips:
        failed = [s for s in skips if s.kind == FAILED]
        raise InputError(no_clips_message(req.dataset, Path(req.root), failed or skips))
    check_store_target(req, clips[0].joint_set)
    if req.checkpoint is not None:
        from pipeline.backbones import check_checkpoint

        check_checkpoint(req.backbone, Path(req.checkpoint))
