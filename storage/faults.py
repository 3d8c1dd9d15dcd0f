"""Write faults (disk full, a read-only or immutable file, a quota) as one clear StoreError naming path and cause.

Two write paths report them: zarr-python (metadata, statuses, imports, derived features) raises OSError;
tensorstore (the extraction's row writes, storage/rowwrite.py) raises ValueError with its status and the OS error in
the text, e.g. `RESOURCE_EXHAUSTED: Error writing local file "<shard>": Failed writing: "<shard>.__lock": Failed to
write 365024 bytes to file 7: No space left on device [os_error_code='28']` (disk full) or `PERMISSION_DENIED: ...
Failed to rename ...: Operation not permitted [os_error_code='1']` (an immutable file). Both write each chunk
atomically (a temporary file, then a rename; tensorstore removes its `.__lock` file when the write fails), and a
clip's status flips to DONE only after its data is written, so a failed write leaves the clip pending and nothing
already marked done changed.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from contextlib import contextmanager

from schemas.errors import StoreError

_TS_FILE = re.compile(r'Error writing local file "([^"]+)"')
_TS_OS_ERROR = re.compile(r":\s*([^:\[]+?)\s*\[os_error_code='(\d+)'\]")


def write_failed(path: str, cause: str, code: str) -> StoreError:
    """The one-line error of a failed write: path, cause, code (errno name, e.g. ENOSPC) and what to do."""
    return StoreError(f"{path}: write failed: {cause} ({code}); free disk space or make it writable, then rerun "
                      "(nothing already marked done was changed)")


def tensorstore_write_fault(where: str, e: ValueError) -> StoreError:
    """A tensorstore write failure as a StoreError: the file and OS error it names when it is an I/O failure, else
    `where` (the array) and tensorstore's own text."""
    msg = str(e)
    file, os_error = _TS_FILE.search(msg), _TS_OS_ERROR.search(msg)
    if os_error is None:
        return StoreError(f"{where}: write failed ({msg})")
    code = int(os_error.group(2))
    return write_failed(file.group(1) if file else where, os_error.group(1), errno.errorcode.get(code, f"errno {code}"))


@contextmanager
def write_fault(where: str) -> Iterator[None]:
    """Turn an OSError raised while writing under `where` (an array or file path) into a StoreError naming the
    file (or `where`) and the cause."""
    try:
        yield
    except OSError as e:
        code = errno.errorcode.get(e.errno or 0, type(e).__name__)
        raise write_failed(e.filename or where, e.strerror or str(e), code) from None
