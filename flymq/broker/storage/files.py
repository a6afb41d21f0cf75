"""Opening and replacing the storage's files, and the process's open-file limit.

Small files that must never be seen half-written (checkpoints, metadata, producer ids) are
replaced with :func:`write_atomically`, the one place that knows the temp-file, fsync, rename
and directory-fsync steps that make a replacement survive a crash.

Every partition holds its log file open (and its two index files while they are among the
most recently used, see :mod:`.index`), so a broker with thousands of partitions needs
thousands of descriptors. Running out, a full disk, or something else standing where a file
should be is reported as a :class:`StorageError` naming the file and the reason, with a hint
(:func:`storage_error`; :func:`disk_errors` for a run of steps), never as a raw ``OSError``.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from flymq.errors import StorageError

try:
    import resource
except ImportError:  # not on Windows, which has no such limit to raise
    resource = None  # type: ignore[assignment]


def storage_error(path: Path, exc: OSError, doing: str = "open") -> StorageError:
    """The :class:`StorageError` for ``exc``, raised while trying to ``doing`` ``path``:
    ``cannot <doing> <path>: <reason>``, the hint chosen by the reason (StorageError.HINTS)."""
    reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    return StorageError(f"cannot {doing} {path}: {reason}")


@contextmanager
def disk_errors(path: Path, doing: str) -> Iterator[None]:
    """Run file-system steps on or under ``path``: an ``OSError`` leaves as
    :func:`storage_error`, naming the file the OS named (else ``path``)."""
    try:
        yield
    except OSError as exc:
        raise storage_error(Path(os.fsdecode(exc.filename)) if exc.filename else path, exc,
                            doing) from exc


def open_rw(path: Path) -> int:
    """A read-write descriptor of ``path`` (created if missing)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise storage_error(path, exc) from exc


def fsync_dir(path: Path) -> None:
    """Make creations, deletions and renames inside ``path`` durable: fsyncing a file does
    not persist its directory entry. Failing to open the directory is a StorageError; a
    failed fsync stays an ``OSError``, which a log treats as a failed fsync."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise storage_error(path, exc) from exc
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new content,
    never a mix: a temp file in the same directory is written, fsynced and renamed over it.

    ``sync_dir=False`` skips making the rename itself durable, for a caller to whom finding
    the old content after a power loss is harmless. Writers of one path must not overlap
    (they share the temp file, so that one a crash leaves behind is reused, not piled up).
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        if sync_dir:
            fsync_dir(path.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise storage_error(path, exc, "write") from exc
        raise


def overwrite(path: Path, data: bytes) -> None:
    """Write ``data`` over the start of ``path`` (created if missing; cut to ``len(data)`` if
    longer), with no temp file and no fsync: one write for a small record that a reader checks
    (by its CRC) and can do without, so that finding it old, torn or missing after a crash is
    harmless."""
    fd = open_rw(path)
    try:
        with disk_errors(path, "write"):
            os.pwrite(fd, data, 0)
            if os.fstat(fd).st_size > len(data):  # what an older, longer writer left
                os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def write_json_atomically(path: Path, data: dict) -> None:
    """:func:`write_atomically` of ``data`` as JSON (UTF-8, keys sorted)."""
    write_atomically(path, json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8"))


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
