"""Error types every layer raises; the CLI prints their message (no traceback) and exits with `exit_code`."""


class CacheError(Exception):
    """A user-facing error: the message names the file/argument/array and what to do. Exit code 1."""

    exit_code: int = 1


class StoreError(CacheError):
    """The store on disk is missing, of another schema, incomplete or corrupt."""


class InputError(CacheError):
    """Bad raw input or bad arguments (dataset files, cameras, options)."""


class UsageError(InputError):
    """An argument no run can use, found before anything starts (like Typer's own usage errors: exit code 2)."""

    exit_code = 2


class Interrupted(CacheError):
    """The user interrupted a run (SIGINT) and its state was saved; the message says how to continue. Exit 130."""

    exit_code = 130
