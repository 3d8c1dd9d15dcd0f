"""Prefect's own logs (task failures with their tracebacks) to a run log file instead of the console.

The console shows one line per failed clip and the failure table (cli/extract.py); the full story, tracebacks
included, goes to `<store>.log` beside the store and to the Prefect UI. `--verbose` keeps Prefect's console output.
Prefect reads its logging configuration once, when it is first imported, from PREFECT_LOGGING_SETTINGS_PATH; worker
processes started later inherit the variable, so their task logs land in the same file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml


def log_path(store: str | Path) -> Path:
    """The run log of a store: `<store>.log` beside it."""
    store = Path(store).absolute()
    return store.parent / f"{store.name}.log"


@contextmanager
def logs_to_file(log: Path) -> Iterator[Path]:
    """Within the block, Prefect (imported after entering) writes its console logs to `log` (appended)."""
    import importlib.util

    spec = importlib.util.find_spec("prefect")
    default = Path(spec.origin).parent / "logging" / "logging.yml"  # read as text: prefect is not imported yet
    cfg = yaml.safe_load(default.read_text())
    to_file = {"level": 0, "class": "logging.FileHandler", "filename": str(log), "formatter": "standard"}
    cfg["handlers"]["console"] = to_file
    cfg["handlers"]["debug"] = {**to_file, "formatter": "debug"}
    with tempfile.TemporaryDirectory(prefix="ctxpose-logging-") as tmp:
        settings = Path(tmp) / "logging.yml"
        settings.write_text(yaml.safe_dump(cfg))
        old = os.environ.get("PREFECT_LOGGING_SETTINGS_PATH")
        os.environ["PREFECT_LOGGING_SETTINGS_PATH"] = str(settings)
        try:
            yield log
        finally:
            if old is None:
                os.environ.pop("PREFECT_LOGGING_SETTINGS_PATH", None)
            else:
                os.environ["PREFECT_LOGGING_SETTINGS_PATH"] = old
