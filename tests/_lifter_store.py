"""A real (synthetic raw data -> real HRNet-W32 extraction, flipped maps) 16-row H36M store, built once per
test session and shared by the lifter test files (tests/test_lifter_data.py, test_train.py, test_evaluate.py)."""

from __future__ import annotations

from pathlib import Path

_BUILT: dict[str, Path] = {}


def real_store(tmp_path_factory) -> Path:
    """2 subjects (S1 train, S9 test) x Directions x 4 cameras x 2 frames = 16 rows, hrnet32 maps + flip maps."""
    if "h36m" not in _BUILT:
        import torch

        from flows.plan import make_plan
        from flows.work import BackboneRequest, ExtractOptions, process_clip
        from pipeline.synth import synth_dataset

        base = tmp_path_factory.mktemp("lifter_store")
        raw, store = base / "raw", base / "store.zarr"
        synth_dataset("h36m", raw, subjects=["S1", "S9"], actions=["Directions"], frames=2)
        req = BackboneRequest("hrnet32")
        plan = make_plan("h36m", raw, store, req, flip=True)
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for i, clip in plan.clips:
                process_clip(str(store), "h36m", i, clip, req, ExtractOptions(flip=True))
        finally:
            torch.set_num_threads(n)
        _BUILT["h36m"] = store
    return _BUILT["h36m"]
