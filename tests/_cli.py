"""The installed `pipeline` console script, as a user runs it (the venv's own entry point, not `python -m`)."""

from __future__ import annotations

import sys
from pathlib import Path

PIPELINE = str(Path(sys.executable).parent / "pipeline")
