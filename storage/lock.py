"""One writer run per store: an flock on `.<store name>.lock` next to the store, released by the OS even on SIGKILL
(the file is removed on a normal release, so a finished or refused run leaves nothing beside the store).

The lock file sits beside the store, not in it: zarr's group creation clears the store directory (it would delete a
held lock) and warns about unknown files in it. Re-entrant within a process (the CLI takes the lock early, the flow
it runs takes it again); another process trying to take it gets a StoreError naming the holder's pid, host, start
time and command.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from schemas.errors import StoreError

_HELD: dict[Path, list[int]] = {}  # resolved lock path -> [fd, depth] held by this process


def describe_holder(text: str) -> str:
    """'pid 123 on host, since T: command' from the lock file's JSON (or the raw text)."""
    try:
        h = json.loads(text)
        return f"pid {h['pid']} on {h['host']} since {h['started']}: {h['command']}"
    except (ValueError, KeyError, TypeError):
        return text.strip() or "unknown process"


class StoreLock:
    """Exclusive, non-blocking lock of a store directory; the file records who holds it."""

    def __init__(self, store: str | Path) -> None:
        store = Path(store).absolute()
        self.store = store
        self.path = store.parent / f".{store.name}.lock"
        self._owned = False

    def acquire(self) -> StoreLock:
        if self.path in _HELD:
            _HELD[self.path][1] += 1
            self._owned = True
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = describe_holder(os.read(fd, 4096).decode(errors="replace"))
                os.close(fd)
                raise StoreError(f"--store {self.store} is being written by another run ({holder}); wait for it "
                                 f"to finish or stop it, then rerun (completed clips are kept)") from None
            if self._same_file(fd):
                break
            os.close(fd)  # its holder removed that file on release: lock the one at the path now
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime(
            "%Y-%m-%dT%H:%M:%S"), "command": " ".join(sys.orig_argv)}).encode())
        _HELD[self.path] = [fd, 1]
        self._owned = True
        return self

    def release(self) -> None:
        if not self._owned:
            return
        self._owned = False
        held = _HELD[self.path]
        held[1] -= 1
        if held[1] == 0:  # the file goes while still locked: a run leaves nothing beside the store
            del _HELD[self.path]
            self.path.unlink(missing_ok=True)
            fcntl.flock(held[0], fcntl.LOCK_UN)
            os.close(held[0])

    def _same_file(self, fd: int) -> bool:
        """The locked descriptor is still the file at the lock path (not one a releasing holder removed)."""
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
