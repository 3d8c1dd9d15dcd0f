"""Error types every layer raises; the CLI prints their message (no traceback) and exits non-zero."""


class CacheError(Exception):
    """A user-facing error: the message names the file/argument/array and what to do."""


class StoreError(CacheError):
    """The store on disk is missing, of another schema, incomplete or corrupt."""


class InputError(CacheError):
    """Bad raw input or bad arguments (dataset files, cameras, options)."""
