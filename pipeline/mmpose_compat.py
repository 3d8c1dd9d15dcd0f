"""Make `import mmpose.apis` work with mmcv-lite, numpy 2 and mmdet, cleanly and idempotently.

Four known breakages of mmpose 1.3.2 in this environment, each handled here:
(a) mmcv-lite ships `mmcv/ops/*.py` but no compiled `mmcv._ext`, so `import mmcv.ops` fails;
(b) mmpose's `edpose_head.py` does `from mmcv.ops import MultiScaleDeformableAttention` unguarded, so
    `import mmpose.apis` fails. `guard_mmcv_ops()` puts a stub `mmcv.ops` into `sys.modules` only when the
    real one cannot be imported; each stub attribute is a placeholder class raising `MmcvOpsMissing` if used.
    With full mmcv (ops compiled) the guard does nothing;
(c) the PyPI xtcocotools wheel is built against numpy 1 ("numpy.dtype size changed"): `check_xtcocotools()`
    says what to run;
(d) mmpose's RTMO head imports mmdet: `check_mmdet()` says what to install.
`load_mmpose()` applies all of it once and returns the handful of mmpose entry points callers need.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.errors import InputError

XTCOCOTOOLS_FIX = ("pip install --no-binary xtcocotools --no-build-isolation --force-reinstall xtcocotools "
                   "(or rerun scripts/setup.sh)")
MMDET_FIX = "pip install mmdet==3.3.0"
STUB_MARK = "__ctxpose_stub__"


class MmcvOpsMissing(RuntimeError):
    """An mmcv.ops operator was used, but only mmcv-lite (no compiled ops) is installed."""


class _MissingOp:
    """Placeholder for an mmcv.ops symbol: importable and subclassable, raises when instantiated or called."""

    _op_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise MmcvOpsMissing(
            f"mmcv.ops.{cls._op_name} is not available: mmcv-lite has no compiled ops. The backbones this "
            "project uses (HRNet, ResNet heatmap models) do not need it; for models that do, install full "
            "mmcv built against your torch (see the README) and the stub is no longer installed.")


def _stub_getattr(name: str) -> type:
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(name)
    return type(name, (_MissingOp,), {"_op_name": name, "__module__": "mmcv.ops"})


def _make_ops_stub() -> types.ModuleType:
    stub = types.ModuleType("mmcv.ops", "Stub for mmcv.ops (mmcv-lite); see pipeline.mmpose_compat.")
    setattr(stub, STUB_MARK, True)
    stub.__getattr__ = _stub_getattr  # type: ignore[attr-defined]
    return stub


def is_ops_stub(module: object) -> bool:
    """True if `module` is this file's placeholder `mmcv.ops`."""
    return bool(getattr(module, "__dict__", {}).get(STUB_MARK, False))


def guard_mmcv_ops() -> bool:
    """Install the `mmcv.ops` stub if the real module cannot be imported; True if the stub is in place.

    Leaves any already imported or importable `mmcv.ops` alone (full mmcv, or a module a test put there).
    """
    present = sys.modules.get("mmcv.ops")
    if present is not None:
        return is_ops_stub(present)
    try:
        import mmcv  # noqa: F401  (mmcv-lite or full mmcv must be there)
    except ImportError as exc:
        raise InputError(f"mmcv is not installed ({exc}); install it: pip install mmcv-lite==2.1.0") from exc
    try:
        importlib.import_module("mmcv.ops")
        return False
    except ImportError:
        # mmcv-lite: `mmcv._ext` missing. Drop half-imported submodules, then stand the stub in.
        for key in [k for k in sys.modules if k == "mmcv.ops" or k.startswith("mmcv.ops.")]:
            del sys.modules[key]
        stub = _make_ops_stub()
        sys.modules["mmcv.ops"] = stub
        sys.modules["mmcv"].ops = stub  # type: ignore[attr-defined]
        return True


def xtcocotools_error(exc: BaseException) -> InputError:
    """The InputError for a failed `import xtcocotools.coco`, with the command that fixes it."""
    if "numpy.dtype size changed" in str(exc) or "binary incompatib" in str(exc):
        return InputError(f"xtcocotools was built against another numpy ABI ({exc}); rebuild it from source: "
                          f"{XTCOCOTOOLS_FIX}")
    return InputError(f"xtcocotools cannot be imported ({type(exc).__name__}: {exc}); install it: "
                      f"{XTCOCOTOOLS_FIX}")


def check_xtcocotools() -> type:
    """Import xtcocotools' COCO class (mmpose's datasets need it); raise InputError saying what to run."""
    try:
        from xtcocotools.coco import COCO
    except (ImportError, ValueError) as exc:
        raise xtcocotools_error(exc) from exc
    return COCO


def check_mmdet() -> str:
    """Import mmdet (mmpose's RTMO head needs it at import time); return its version or raise InputError."""
    try:
        import mmdet
    except ImportError as exc:
        raise InputError(f"mmdet is not importable ({exc}); mmpose.apis needs it: {MMDET_FIX}") from exc
    return str(mmdet.__version__)


@dataclass(frozen=True)
class Mmpose:
    """What callers need from mmpose after the guards: versions, `init_model`, heatmap codec, config dir."""

    version: str
    mmcv_version: str
    mmdet_version: str
    ops_stubbed: bool
    init_model: Any
    MSRAHeatmap: Any
    config_dir: Path

    def config_path(self, name: str) -> Path:
        """Path of a bundled top-down COCO config, e.g. 'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'."""
        return self.config_dir / name


_LOADED: Mmpose | None = None


def load_mmpose() -> Mmpose:
    """Apply (a)-(d) once and import mmpose.apis; idempotent (later calls return the same object)."""
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    stubbed = guard_mmcv_ops()
    check_xtcocotools()
    mmdet_version = check_mmdet()
    with warnings.catch_warnings():
        # mmcv-lite warns about MultiScaleDeformableAttention; mmengine about pkg_resources: both expected.
        warnings.filterwarnings("ignore", message=".*MultiScaleDeformableAttention.*")
        warnings.filterwarnings("ignore", message=".*pkg_resources.*")
        try:
            import mmcv
            import mmpose
            from mmpose.apis import init_model
            from mmpose.codecs import MSRAHeatmap
        except ModuleNotFoundError as exc:
            if exc.name == "pkg_resources":
                raise InputError("mmengine imports pkg_resources at run time: "
                                 "pip install 'setuptools<81'") from exc
            raise InputError(f"import mmpose.apis failed: {exc}; see README (mmpose install route)") from exc
    _LOADED = Mmpose(version=str(mmpose.__version__), mmcv_version=str(mmcv.__version__),
                     mmdet_version=mmdet_version, ops_stubbed=stubbed, init_model=init_model,
                     MSRAHeatmap=MSRAHeatmap, config_dir=config_dir())
    return _LOADED


def config_dir() -> Path:
    """mmpose's bundled top-down COCO heatmap configs, found without importing mmpose (which takes seconds)."""
    spec = importlib.util.find_spec("mmpose")
    if spec is None or spec.origin is None:
        raise InputError("mmpose is not installed; see README (mmpose install route)")
    path = Path(spec.origin).parent / ".mim/configs/body_2d_keypoint/topdown_heatmap/coco"
    if not path.is_dir():
        raise InputError(f"mmpose's bundled configs are missing ({path}); reinstall mmpose==1.3.2")
    return path


def mmpose_version() -> str:
    """The installed mmpose version, read from its metadata (no import)."""
    return importlib.metadata.version("mmpose")
