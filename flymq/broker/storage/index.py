"""Sparse per-segment indexes kept on disk and searched with pread, never loaded whole.

Both are hints: recovery trims or rebuilds them from the log file, and a lookup only gives a
position to start scanning from. New entries wait in memory and are written together (at
:data:`PENDING_MAX` of them, or when the index is synced, cut or closed): an entry written
per append was one more syscall for every few records on the produce path, and an entry
lost with the process is one recovery rebuilds anyway. What a sync covers is written and
fsynced first, so the entries before a recovery checkpoint are on disk.

An index holds its file open only while it is among the most recently used ones (an eighth
of the open-file limit, at most :data:`OPEN_INDEXES_MAX`); the others are closed and reopened
on their next use. A partition's two indexes would otherwise double the open files its log
needs, and ten thousand partitions would not fit a common limit of 20,000 descriptors.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from collections import OrderedDict
from itertools import islice
from pathlib import Path
from typing import Any, Callable, TypeVar

from flymq.errors import StorageError

from .files import disk_errors, open_file_limit, open_rw

_OFFSET_ENTRY = struct.Struct("<II")   # relative offset, byte position of the batch
_TIME_ENTRY = struct.Struct("<qI")     # max timestamp so far, relative offset

OPEN_INDEXES_MAX = 512
PENDING_MAX = 64  # entries held in memory before one write: 512 or 768 bytes
T = TypeVar("T")


class _OpenIndexes:
    """The index files holding a descriptor, least recently used first."""

    def __init__(self) -> None:
        self._lru: OrderedDict[_IndexFile, None] = OrderedDict()
        self._lock = threading.Lock()
        self.limit = 0  # set on first use: by then a broker may have raised the file limit

    def _limit(self) -> int:
        """An eighth of the open-file limit (the log files, one per partition, get the
        rest), at most :data:`OPEN_INDEXES_MAX`."""
        if not self.limit:
            self.limit = max(16, min(OPEN_INDEXES_MAX, open_file_limit() // 8))
        return self.limit

    def used(self, index: "_IndexFile") -> None:
        """``index`` was just used with its descriptor; close the least recently used ones
        beyond the limit. An index busy in another thread is left open (and stays listed):
        it is never closed under a reader, and waiting for it could deadlock."""
        with self._lock:
            self._lru[index] = None
            self._lru.move_to_end(index)
            excess = len(self._lru) - self._limit()
            if excess <= 0:  # the common case: no walk over the open indexes
                return
            victims = list(islice(self._lru, excess))  # the oldest; ``index`` is the newest
        for victim in victims:
            if victim.release_fd():
                self.forget(victim)

    def forget(self, index: "_IndexFile") -> None:
        with self._lock:
            self._lru.pop(index, None)


_OPEN = _OpenIndexes()


class _IndexFile:
    """An append-only file of fixed-size entries with a binary search over one field."""

    entry: struct.Struct
    key_field: int

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()     # guards the descriptor against closing while used
        self._fd = open_rw(path)
        self.count = os.fstat(self._fd).st_size // self.entry.size
        self._written = self.count        # entries in the file; the rest are in _pending
        self._pending = bytearray()
        self._pending_lock = threading.Lock()  # appends, and syncs from the flusher thread
        self.dirty = False   # changed since the last sync: a sparse index rarely is
        self._closed = False
        _OPEN.used(self)

    def __len__(self) -> int:
        return self.count

    def _with_fd(self, action: Callable[..., T], *args: Any) -> T:
        """``action(fd, *args)`` on the file, reopened first if it was released."""
        with self._lock:
            if self._closed:
                raise ValueError(f"index {self.path} is closed")
            if self._fd < 0:
                self._fd = open_rw(self.path)
            result = action(self._fd, *args)
        _OPEN.used(self)
        return result

    def release_fd(self) -> bool:
        """Close the descriptor unless the index is in use right now; whether it was done."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._fd >= 0:  # a dirty index is synced through its next descriptor
                os.close(self._fd)
                self._fd = -1
            return True
        finally:
            self._lock.release()

    def get(self, i: int) -> tuple:
        size = self.entry.size
        with self._pending_lock:
            at = i - self._written
            if at >= 0:  # not written yet
                return self.entry.unpack_from(self._pending, at * size)
        return self.entry.unpack(self._with_fd(os.pread, size, i * size))

    def last(self) -> tuple | None:
        return self.get(self.count - 1) if self.count else None

    def append(self, *fields: int) -> None:
        with self._pending_lock:
            self._pending += self.entry.pack(*fields)
            self.count += 1
            self.dirty = True
            if self.count - self._written >= PENDING_MAX:
                self._write_pending()

    def _write_pending(self) -> None:
        """Write the entries held in memory (one pwrite; called holding the pending lock)."""
        if self._pending:
            with disk_errors(self.path, "write"):  # e.g. the disk is full
                self._with_fd(os.pwrite, bytes(self._pending), self._written * self.entry.size)
            self._written = self.count
            self._pending.clear()

    def _write_all(self) -> None:
        with self._pending_lock:
            self._write_pending()

    def truncate(self, count: int) -> None:
        """Keep the first ``count`` entries. The file is cut only when it is longer: opening a
        log "truncates" each index to the entries it keeps, nearly always all of them, and an
        ftruncate that changes nothing is still a metadata write to some file systems (LazyFS,
        which the power-loss tests run on, fails one now and then). Such a no-op leaves the
        index clean, so that closing an untouched log needs no descriptor for its fsync."""
        self._write_all()
        self.count = self._written = min(count, self.count)
        size = self.count * self.entry.size
        with disk_errors(self.path, "write"):
            if self._with_fd(os.fstat).st_size != size:
                self._with_fd(os.ftruncate, size)
                self.dirty = True

    def last_before(self, key: int, inclusive: bool) -> tuple | None:
        """The last entry whose key is < ``key`` (or <= when inclusive); keys never decrease."""
        lo, hi, found = 0, self.count - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            entry = self.get(mid)
            k = entry[self.key_field]
            if k < key or (inclusive and k == key):
                found, lo = entry, mid + 1
            else:
                hi = mid - 1
        return found

    def sync(self) -> None:
        """fsync, unless nothing changed since the last one (flushing 1,000 partitions every
        interval would otherwise cost two needless fsyncs each)."""
        if not self.dirty:
            return
        self.dirty = False  # before the fsync: a change made during it is synced next time
        try:
            self._write_all()
            self._with_fd(os.fsync)
        except Exception:  # a failed write or fsync: the next sync tries again
            self.dirty = True
            raise

    def close(self) -> None:
        if not self._closed:
            with contextlib.suppress(StorageError):  # entries that miss the file are rebuilt
                self._write_all()                    # by recovery, like any lost hint
        with self._lock:
            self._closed = True
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        _OPEN.forget(self)


class OffsetIndex(_IndexFile):
    """Entries (relative offset, position): where the batch holding that offset starts."""

    entry = _OFFSET_ENTRY
    key_field = 0

    def position_for(self, relative_offset: int) -> tuple[int, int]:
        """(relative offset, position) of the last indexed batch at or before the offset."""
        return self.last_before(relative_offset, inclusive=True) or (0, 0)


class TimeIndex(_IndexFile):
    """Entries (max timestamp so far, relative offset of the batch that was indexed).

    When a segment is rolled a final entry (max timestamp, record count) seals it, so the
    segment's max timestamp is read without a scan and a missing seal means "rebuild".
    """

    entry = _TIME_ENTRY
    key_field = 0
