"""mmpose import route: (a) mmcv-lite has no mmcv.ops, (b) the ops guard, (c) xtcocotools, (d) mmdet."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.mmpose_compat import (
    MmcvOpsMissing,
    check_mmdet,
    check_xtcocotools,
    guard_mmcv_ops,
    is_ops_stub,
    load_mmpose,
    xtcocotools_error,
)
from schemas.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def test_load_mmpose_imports_apis_and_is_idempotent() -> None:
    mm = load_mmpose()
    import mmpose.apis

    assert mm.init_model is mmpose.apis.init_model
    assert mm.version == "1.3.2" and mm.mmcv_version == "2.1.0"
    assert load_mmpose() is mm
    assert mm.config_path("td-hm_hrnet-w32_8xb64-210e_coco-256x192.py").is_file()


def test_mmcv_lite_has_no_ops_so_the_stub_stands_in() -> None:
    mm = load_mmpose()
    # (a) mmcv-lite: no compiled extension, hence the stub
    assert importlib.util.find_spec("mmcv._ext") is None
    assert mm.ops_stubbed and is_ops_stub(sys.modules["mmcv.ops"])
    stub = sys.modules["mmcv.ops"]
    assert guard_mmcv_ops() is True and sys.modules["mmcv.ops"] is stub  # idempotent
    # (b) the module that imports mmcv.ops unguarded now imports
    from mmpose.models.heads.transformer_heads import edpose_head

    assert edpose_head.MultiScaleDeformableAttention.__name__ == "MultiScaleDeformableAttention"
    from mmcv.ops import DeformConv2d

    with pytest.raises(MmcvOpsMissing, match=r"mmcv.ops.DeformConv2d .*mmcv-lite"):
        DeformConv2d(3, 3, 3)
    with pytest.raises(AttributeError):
        stub.__path__  # noqa: B018  (dunder lookups must not be stubbed)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.e2e  # the installed console script in a subprocess
def test_guard_leaves_an_importable_mmcv_ops_alone(tmp_path: Path) -> None:
    # The real full mmcv cannot be built here (C++20 vs torch 2.14): stand in a fake *installed* mmcv.ops,
    # found by the import system through mmcv.__path__, and one already in sys.modules.
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "__init__.py").write_text("FULL_MMCV = True\n")
    r = _run(f"""
        import sys, mmcv
        mmcv.__path__.insert(0, {str(tmp_path)!r})
        from pipeline.mmpose_compat import guard_mmcv_ops, is_ops_stub
        assert guard_mmcv_ops() is False
        assert sys.modules["mmcv.ops"].FULL_MMCV and not is_ops_stub(sys.modules["mmcv.ops"])
        import types
        del sys.modules["mmcv.ops"]
        fake = types.ModuleType("mmcv.ops"); sys.modules["mmcv.ops"] = fake
        assert guard_mmcv_ops() is False and sys.modules["mmcv.ops"] is fake
        print("ok")
        """)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_xtcocotools_imports_and_loads_a_coco_file(tmp_path: Path) -> None:
    COCO = check_xtcocotools()
    ann = {"images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}],
           "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "area": 1200,
                            "iscrowd": 0, "num_keypoints": 1, "keypoints": [15, 25, 2] + [0, 0, 0] * 16}],
           "categories": [{"id": 1, "name": "person"}]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(ann))
    coco = COCO(str(path))
    assert coco.getAnnIds(imgIds=[1]) == [7]
    assert coco.loadAnns([7])[0]["keypoints"][:3] == [15, 25, 2]


@pytest.mark.e2e  # the installed console script in a subprocess
def test_xtcocotools_abi_error_says_what_to_run() -> None:
    err = xtcocotools_error(ValueError("numpy.dtype size changed, may indicate binary incompatibility. "
                                       "Expected 96 from C header, got 88 from PyObject"))
    assert isinstance(err, InputError)
    assert "--no-binary xtcocotools" in str(err) and "numpy ABI" in str(err)
    assert "pip install" in str(xtcocotools_error(ImportError("No module named 'xtcocotools'")))


def test_mmdet_imports_and_the_head_needing_it_loads() -> None:
    assert check_mmdet() == "3.3.0"
    load_mmpose()
    from mmpose.models.heads import RTMOHead

    assert RTMOHead.__module__.startswith("mmpose.models.heads")
