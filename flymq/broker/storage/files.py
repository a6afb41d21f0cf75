"""Opening the storage's files, and the process's open-file limit they count against.

Every partition holds its log file open (and its two index files while they are among the
most recently used, see :mod:`.index`), so a broker with thousands of partitions needs
thousands of descriptors. Running out is reported as a :class:`StorageError` saying what to
do, never as a raw ``OSError``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from flymq.errors import StorageError

try:
    import resource
except ImportError:  # not on Windows, which has no such limit to raise
    resource = None  # type: ignore[assignment]

_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)


def open_rw(path: Path) -> int:
    """A read-write descriptor of ``path`` (created if missing)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in _OUT_OF_DESCRIPTORS:
            raise StorageError(
                f"cannot open {path}: too many open files",
                hint="Each partition keeps its log file open: raise the open-file limit "
                     "(ulimit -n, or the hard limit that flymq raises its own to) or use "
                     "fewer partitions.") from exc
        raise StorageError(f"cannot open {path}: {exc.strerror}") from exc


def open_file_limit() -> int:
    """This process's soft open-file limit (a large number when there is none)."""
    if resource is None:
        return 1 << 16
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def raise_open_file_limit() -> None:
    """Raise this process's soft open-file limit to its hard limit, as Go programs (the
    upstream broker among them) do at start."""
    if resource is None:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # e.g. a sandbox that forbids it, or an infinite hard limit: keep ours
