"""`pipeline` console entry point: Typer's standalone mode prints usage errors (missing / unknown option, bad type
or choice: its usage panel, exit 2); the project's own user errors print one red line (exit 1, or the error's own
code); nothing reaches the user as a traceback."""

from __future__ import annotations

import sys

from cli.app import app, fail
from schemas.errors import CacheError

# Command modules register themselves on `app` when imported.
from cli import store  # noqa: E402,F401  isort: skip
from cli import datasets  # noqa: E402,F401  isort: skip
from cli import extract  # noqa: E402,F401  isort: skip
from cli import lifters  # noqa: E402,F401  isort: skip
from cli import tools  # noqa: E402,F401  isort: skip
from cli import demo  # noqa: E402,F401  isort: skip
from cli import derive  # noqa: E402,F401  isort: skip


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (argv: the arguments after the program name; default sys.argv[1:])."""
    try:
        app(args=argv, prog_name="pipeline")  # standalone: click/typer usage errors print themselves, exit 2
    except CacheError as e:
        raise SystemExit(fail(str(e), e.exit_code).exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(fail("interrupted", 130).exit_code) from None
    except OSError as e:  # a file system fault no layer named (metadata writes, ...): path and cause, one line
        where = f"{e.filename}: " if e.filename else ""
        raise SystemExit(fail(f"{where}{e.strerror or e}; free disk space or fix the permissions, then rerun").exit_code
                         ) from None


if __name__ == "__main__":
    sys.exit(main())
