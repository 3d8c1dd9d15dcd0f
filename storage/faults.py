"""Write faults (disk full, a read-only or immutable file, a quota) as one clear StoreError naming path and cause.

zarr writes every chunk atomically (a temporary file, then a rename), and a clip's status flips to DONE only after
its data is written, so a failed write leaves the clip pending and nothing already marked done changed.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from schemas.errors import StoreError


@contextmanager
def write_fault(where: str) -> Iterator[None]:
    """Turn an OSError raised while writing under `where` (an array or file path) into a StoreError naming the
    file (or `where`) and the cause."""
    try:
        yield
    except OSError as e:
        code = errno.errorcode.get(e.errno or 0, type(e).__name__)
        raise StoreError(f"{e.filename or where}: write failed: {e.strerror or e} ({code}); free disk space or make "
                         "it writable, then rerun (nothing already marked done was changed)") from None
