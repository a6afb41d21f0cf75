"""One broker per data directory: an exclusive lock on ``<data_dir>/.lock`` that the OS drops
when the process dies. The broker takes it when it opens; offline tools (``flymq inspect
--repair``) take it too, so they never change files a running broker has open."""

from __future__ import annotations

import os
from pathlib import Path

from flymq.broker.storage.files import storage_error
from flymq.errors import StorageError

try:
    import fcntl
except ImportError:  # not POSIX: no cross-process guard for the data directory
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"


def lock_directory(data_dir: Path) -> int:
    """The descriptor holding ``data_dir``'s lock (closing it releases the lock);
    StorageError when another process or broker holds it, or the lock file cannot be opened."""
    path = Path(data_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # e.g. a directory in its place, or no descriptor left
        raise storage_error(path, exc, "lock") from exc
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StorageError(f"data directory {data_dir} is in use by another broker",
                           hint="Close the other broker or give this one its own data_dir.")
    return fd
