"""`pipeline` console entry point: parses and dispatches only; command modules register on `app`."""

from __future__ import annotations

import sys

from pipeline.cli_app import app, fail
from schemas.errors import CacheError

# Command modules register themselves on `app` when imported.
from pipeline import cli_store  # noqa: E402,F401  isort: skip
from pipeline import cli_datasets  # noqa: E402,F401  isort: skip
from pipeline import cli_extract  # noqa: E402,F401  isort: skip
from pipeline import cli_lifters  # noqa: E402,F401  isort: skip
from pipeline import cli_tools  # noqa: E402,F401  isort: skip
from pipeline import cli_demo  # noqa: E402,F401  isort: skip
from pipeline import cli_derive  # noqa: E402,F401  isort: skip


def main() -> None:
    """Run the CLI; user-facing errors print one clear line and exit 1, never a traceback."""
    try:
        rc = app(standalone_mode=False)
    except CacheError as e:
        raise SystemExit(fail(str(e)).exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(fail("interrupted", 130).exit_code) from None
    except SystemExit:
        raise
    except Exception as e:  # click usage errors etc. carry their own exit codes
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            raise SystemExit(e.exit_code) from None
        if isinstance(e, click.exceptions.Abort):
            raise SystemExit(1) from None
        raise
    if isinstance(rc, int) and rc:
        raise SystemExit(rc)


if __name__ == "__main__":
    sys.exit(main())
