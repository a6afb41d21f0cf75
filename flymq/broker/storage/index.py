"""Sparse per-segment indexes kept on disk and searched with pread, never loaded whole.

Both are hints: recovery trims or rebuilds them from the log file, and a lookup only gives a
position to start scanning from. Entries are written with os.write like the log itself.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

_OFFSET_ENTRY = struct.Struct("<II")   # relative offset, byte position of the batch
_TIME_ENTRY = struct.Struct("<qI")     # max timestamp so far, relative offset


class _IndexFile:
    """An append-only file of fixed-size entries with a binary search over one field."""

    entry: struct.Struct
    key_field: int

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.count = os.fstat(self.fd).st_size // self.entry.size
        self.dirty = False   # changed since the last sync: a sparse index rarely is

    def __len__(self) -> int:
        return self.count

    def get(self, i: int) -> tuple:
        return self.entry.unpack(os.pread(self.fd, self.entry.size, i * self.entry.size))

    def last(self) -> tuple | None:
        return self.get(self.count - 1) if self.count else None

    def append(self, *fields: int) -> None:
        os.pwrite(self.fd, self.entry.pack(*fields), self.count * self.entry.size)
        self.count += 1
        self.dirty = True

    def truncate(self, count: int) -> None:
        self.count = min(count, self.count)
        os.ftruncate(self.fd, self.count * self.entry.size)
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
            os.fsync(self.fd)
        except OSError:
            self.dirty = True
            raise

    def close(self) -> None:
        os.close(self.fd)


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
