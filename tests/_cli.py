"""The installed `pipeline` console script, as a user runs it (the venv's own entry point, not `python -m`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PIPELINE = str(Path(sys.executable).parent / "pipeline")
BARE_ENV = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}


def run_cli(*args: str, cwd: Path | str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`pipeline ARGS` in a subprocess with a bare environment (no venv on PATH, wide console), output captured."""
    return subprocess.run([PIPELINE, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=BARE_ENV)


def one_error(r: subprocess.CompletedProcess, code: int = 1) -> str:
    """The single `error:` line of a failed command: exit `code`, no traceback anywhere, exactly one error line."""
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]
