"""A watchdog that ends what a command started (the temporary Prefect server, the Dask LocalCluster's nanny and
worker processes) when the command dies, even by SIGKILL, which no handler in the command itself can catch.

`start_watchdog()` spawns `python -m flows.watchdog PID` in its own session. It snapshots the command's descendant
processes (pid and start time, from /proc) every POLL_S seconds while the command lives; once it is gone, it sends
SIGKILL to every process of the last snapshot that still has the same start time (never a reused pid), then exits.
Linux only (/proc); elsewhere it does nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.5


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, start time in clock ticks, state) of a live process, from /proc/PID/stat; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    return int(fields[1]), int(fields[19]), fields[0]


def descendants(root: int) -> dict[int, int]:
    """{pid: start time} of every live descendant of `root`."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[2] != "Z":
                children.setdefault(st[0], []).append(int(entry.name))
                starts[int(entry.name)] = st[1]
    out, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out[pid] = starts[pid]
        todo += children.get(pid, [])
    return out


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[2] != "Z"


def watch(parent: int) -> None:
    """Poll `parent`; when it has died, SIGKILL the processes it left (of the last snapshot, same start time)."""
    me = os.getpid()
    known: dict[int, int] = {}
    while _alive(parent):
        known = {p: t for p, t in descendants(parent).items() if p != me}
        time.sleep(POLL_S)
    for pid, start in known.items():
        st = _stat(pid)
        if st is not None and st[1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def start_watchdog() -> None:
    """Watch this process from a detached helper (no-op where /proc is missing)."""
    if not Path("/proc/self/stat").exists():
        return
    subprocess.Popen([sys.executable, "-m", "flows.watchdog", str(os.getpid())], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


if __name__ == "__main__":
    watch(int(sys.argv[1]))
