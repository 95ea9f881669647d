"""One writer per results file: an advisory lock held while a sweep runs.

The lock is ``fcntl.flock`` on ``<store>.lock`` beside the SQLite store (``r.csv`` ->
``r.sqlite.lock``; tables that share a store share the lock).  A second sweep on the
same results is refused at once, before any work, with a message naming the holder
(process id, host, start time and command, which the holder writes into the lock file).
The operating system releases the lock when its process ends in any way (SIGKILL
included), so a killed sweep never leaves a lock behind; the small lock file itself
stays.  Where ``fcntl`` is missing (Windows) sweeps run unlocked.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import SparsesimError


class ResultsLocked(SparsesimError, RuntimeError):
    """Another sweep is writing the same results file."""


def lock_path(store) -> Path:
    return Path(str(store) + ".lock")


def _holder(f) -> str:
    try:
        f.seek(0)
        info = json.loads(f.read() or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another sweep"
    return (f"the sweep of process {info.get('pid')} on {info.get('host', '?')} (started {info.get('started', '?')}: "
            f"{str(info.get('command', ''))[:200]})")


@contextmanager
def results_lock(store, out=None):
    """Hold the lock of ``store`` (the SQLite store of the results ``out``) while the body runs;
    :class:`ResultsLocked` if another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    from ..io import file_error

    path = lock_path(store)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise file_error(path, exc, "write") from None
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ResultsLocked(f"{out or store} is being written by {_holder(f)}; wait for it to end or write "
                                f"to another --out (lock: {path})") from None
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}))
        f.flush()
        yield
    finally:
        f.close()  # releases the lock
