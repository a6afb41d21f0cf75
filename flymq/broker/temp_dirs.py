"""Temporary data directories (``Broker()`` without a directory, ``FlyMQClient("memory://")``):
made under the system temp directory, removed on close, at interpreter exit when nobody
closed the broker, and by the next temporary broker when the process was killed.

A temporary directory holds a marker file; its broker holds the directory's lock
(:mod:`flymq.broker.dir_lock`) while open. A marked directory whose lock nobody holds
belongs to a dead process, so making a new one sweeps those away: nothing stays forever.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from pathlib import Path

from flymq.broker.dir_lock import LOCK_FILE

PREFIX = "flymq-"
MARKER = ".flymq-temporary"
SETTLE_S = 30.0
"""A marked directory younger than this is left alone: its broker may not have taken the
lock yet (the marker is written just before)."""


def make_temporary_dir(owner: object) -> Path:
    """A new temporary data directory, removed when ``owner`` is garbage collected or the
    interpreter exits (if :func:`remove` did not come first); sweeps dead ones first."""
    sweep_stale()
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    (path / MARKER).touch()
    weakref.finalize(owner, shutil.rmtree, str(path), True)
    return path


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def sweep_stale() -> int:
    """Remove the marked temporary directories whose broker is gone; returns how many."""
    try:
        import fcntl
    except ImportError:  # no flock: a dead process's directory cannot be told apart
        return 0
    removed = 0
    root = Path(tempfile.gettempdir())
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    settled = time.time() - SETTLE_S
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        try:
            if os.stat(os.path.join(entry.path, MARKER)).st_mtime > settled:
                continue
        except OSError:  # not ours (no marker), or gone meanwhile
            continue
        try:
            fd = os.open(os.path.join(entry.path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live broker (of any process) holds it
            os.close(fd)
            continue
        try:  # ours now: nobody opens a marked directory but its own broker
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
        finally:
            os.close(fd)
    return removed
