"""One segment: a log file of batches plus its offset and time indexes.

A segment holds file descriptors, never file contents. Readers pin it (``pins``) so that
retention or truncation never closes a descriptor a reader is still using; the owning log
serialises pin/unpin/retire under its lock.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from flymq.errors import CorruptRecordError, StorageError

from .batch import (BASE_SIZE, HEADER, HEADER_SIZE, MIN_LENGTH, PREFIX, PREFIX_SIZE, BatchRun,
                    DecodedBatch, EncodedBatch, batch_crc_ok, decode_batch, decode_single_run,
                    merge_runs, pack_base)
from .cache import BATCH_CACHE
from .damage import locate_damage
from .files import open_rw
from .index import OffsetIndex, TimeIndex

LOG_SUFFIX, INDEX_SUFFIX, TIME_SUFFIX = ".log", ".index", ".timeindex"
NO_TIMESTAMP = -1 << 63


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}"


def iter_batches(fd: int, pos: int, limit: int, max_chunk: int, *, where: str = "",
                 strict: bool = True, first_chunk: int = 65536
                 ) -> Iterator[tuple[int, bytes, int, int]]:
    """Yield (file position, buffer, position in buffer, size) of each batch in [pos, limit).

    Reads start at ``first_chunk`` (64 KiB) and double up to ``max_chunk`` (or one batch, if
    larger), so a short read stays cheap and a long scan costs few syscalls. A length that is
    too small or runs past ``limit`` ends the scan: raises CorruptRecordError when ``strict``,
    else just stops (recovery wants the position of the first bad byte, which the caller
    tracks).
    """
    unpack = PREFIX.unpack_from
    chunk = min(first_chunk, max_chunk)
    while pos < limit:
        buf = os.pread(fd, min(chunk, limit - pos), pos)
        n, p = len(buf), 0
        while p + HEADER_SIZE <= n:
            length = unpack(buf, p)[1]
            total = PREFIX_SIZE + length
            if length < MIN_LENGTH or pos + p + total > limit:
                if strict:
                    raise CorruptRecordError(where, pos + p, f"bad batch length {length}")
                return
            if p + total > n:
                break
            yield pos + p, buf, p, total
            p += total
        if p == 0:
            if n < HEADER_SIZE:
                if strict:
                    raise CorruptRecordError(where, pos, "truncated batch header")
                return
            chunk = max(chunk, PREFIX_SIZE + unpack(buf, 0)[1])
        else:
            chunk = min(chunk * 2, max_chunk)
        pos += p


class Segment:
    """A log file of batches starting at ``base_offset`` with its two sparse indexes."""

    def __init__(self, directory: Path, base_offset: int):
        self.base_offset = base_offset
        stem = directory / segment_name(base_offset)
        self.path = stem.with_suffix(LOG_SUFFIX)
        self.indexes_existed = (stem.with_suffix(INDEX_SUFFIX).exists()
                                and stem.with_suffix(TIME_SUFFIX).exists())
        self.fd = open_rw(self.path)
        try:
            self.index = OffsetIndex(stem.with_suffix(INDEX_SUFFIX))
            try:
                self.time_index = TimeIndex(stem.with_suffix(TIME_SUFFIX))
            except BaseException:
                self.index.close()
                raise
        except BaseException:  # e.g. out of descriptors: leak none
            os.close(self.fd)
            raise
        self.size = 0                    # committed bytes: readers never look past this
        self.next_offset = base_offset
        self.max_ts = NO_TIMESTAMP
        self.created_ms = 0              # for rolling by age: clock time of the first append
        self.bytes_since_index = 0
        self.pins = 0
        self.epoch = 0                   # bumped when bytes at a position change (truncation)
        # (epoch, base, next offset, position, end position) of the batch a read last returned
        self._last_read = (-1, 0, 0, 0, 0)
        self.retired = False
        self.unsynced = False            # bytes written since the last fsync

    @property
    def empty(self) -> bool:
        return self.next_offset == self.base_offset

    def file_size(self) -> int:
        return os.fstat(self.fd).st_size

    def append(self, base_offset: int, batch: EncodedBatch, index_interval: int) -> int:
        """Write a batch at the end (one pwritev) and index it; returns its size."""
        body, count, _, max_ts = batch
        buffers = [pack_base(base_offset), body]   # the base offset, then the body uncopied
        total = BASE_SIZE + len(body)
        pos = self.size
        try:
            written = os.pwritev(self.fd, buffers, pos)
            if written < total:
                os.pwrite(self.fd, b"".join(buffers)[written:], pos + written)
        except OSError as exc:
            self._undo(pos)
            raise StorageError(f"cannot append to {self.path}: {exc}") from exc
        self._note(pos, base_offset, count, max_ts, total, index_interval)
        self.unsynced = True
        return total

    def _note(self, pos: int, base_offset: int, count: int, max_ts: int, total: int,
              index_interval: int) -> None:
        """Account a batch written at ``pos``: sparse index entries, max timestamp, size."""
        self.max_ts = max(self.max_ts, max_ts)
        if self.bytes_since_index >= index_interval:
            rel = base_offset - self.base_offset
            self.index.append(rel, pos)
            self.time_index.append(self.max_ts, rel)
            self.bytes_since_index = 0
        self.bytes_since_index += total
        self.next_offset = base_offset + count
        self.size = pos + total

    def _undo(self, pos: int) -> None:
        try:
            os.ftruncate(self.fd, pos)
        except OSError:
            pass  # recovery truncates the torn tail on the next open

    def read(self, offset: int, limit_pos: int, end_offset: int, max_records: int,
             max_bytes: int, epoch: int) -> tuple[list[BatchRun], int]:
        """Runs of records from ``offset`` (inside this segment) up to ``limit_pos`` bytes of
        file and ``end_offset``, and the batch bytes they used.

        Every returned batch passed its CRC and the offset continuity check, now or when it
        entered the batch cache; the first batch is returned even when it exceeds
        ``max_bytes``. A stale index entry (one that does not point at the batch it names)
        only costs a scan from the segment start. ``epoch`` is :attr:`epoch` as the caller
        saw it together with ``limit_pos`` and ``end_offset``.

        The walk ends at the batch that ends at ``end_offset``: bytes after it hold no records
        (zero padding a file system left after the last batch of a sealed segment is never
        read). At a damaged batch the records before it are returned; a read starting inside
        the damage raises CorruptRecordError with the unreadable offsets and bytes
        (:func:`locate_damage`), and one starting past them (a reader that chose to skip
        them) goes on from the next sound batch.

        A stretch of look-alike one-record batches (single produces) is decoded in bulk by
        :func:`decode_single_run` and cached as one batch; the walk then restarts after it,
        reading as many bytes at once as the remaining records are likely to need.
        """
        first = expected, pos = self._start_for(offset, limit_pos, epoch)
        where = str(self.path)
        runs: list[BatchRun] = []
        used = taken = 0
        max_chunk = max(max_bytes, 65536)
        chunk = 65536
        careful = False  # CRC-check the batches skipped on the way to ``offset`` too
        while pos is not None:
            batches = self._batches(pos, limit_pos, chunk, max_chunk, epoch)
            pos = None  # unless a bulk-decoded run or skipped damage restarts the walk
            try:
                for bpos, batch, buf, p, total in batches:
                    base, count = (_base_and_count(buf, p) if batch is None
                                   else (batch.base, batch.count))
                    if base != expected or count < 1:
                        raise CorruptRecordError(where, bpos, f"batch base offset {base}, "
                                                              f"expected {expected}, count {count}")
                    if base + count <= offset:
                        if careful and batch is None and not batch_crc_ok(buf, p, total):
                            raise CorruptRecordError(where, bpos, "CRC-32C mismatch")
                        expected = base + count
                        continue
                    if batch is None and count == 1:
                        batch = _single_run(buf, p, base, min(max_records - taken, max(
                            1, (max_bytes - used) // total)), bpos, total, where)
                        if batch is not None:
                            BATCH_CACHE.put((self, epoch, bpos), batch)
                            count, total, pos = batch.count, batch.size, bpos + batch.size
                    start = max(0, offset - base)
                    stop = min(count, start + max_records - taken)
                    size = total
                    if batch is not None and batch.record_bytes:  # a run of singles: take what fits
                        fit = (max_bytes - used) // batch.record_bytes
                        stop = min(stop, start + max(fit, not runs))
                        size = (stop - start) * batch.record_bytes
                    if runs and (stop == start or used + size > max_bytes):
                        break
                    if batch is None:
                        batch = self._decode(buf, p, total, (self, epoch, bpos), count, where)
                    expected = base + count
                    runs.append(BatchRun(batch, start, stop))
                    self._last_read = (epoch, base, expected, bpos, bpos + total)
                    taken += stop - start
                    used += size
                    if taken >= max_records or used >= max_bytes or expected >= end_offset:
                        pos = None
                        break
                    if pos is not None:  # read on after the run, sized for the records still wanted
                        chunk = min(max_chunk, max(65536, (max_records - taken) * (total // count)))
                        break
            except CorruptRecordError as exc:
                if runs:  # the records before the damage; the next read starts at it
                    break
                if not careful:  # a damaged batch that was skipped unchecked may be the start
                    careful, (expected, pos) = True, first
                    continue
                damage = locate_damage(self.fd, exc.position, limit_pos, expected, end_offset,
                                       self._index_hints(exc.position))
                if offset < damage.end_offset:
                    raise CorruptRecordError(where, exc.position, exc.detail,
                                             offsets=(damage.first_offset, damage.end_offset),
                                             end_position=damage.end_position) from None
                pos, expected = damage.end_position, damage.end_offset
        return merge_runs(runs), used

    def _index_hints(self, position: int) -> Iterator[tuple[int, int]]:
        """``(base offset, position)`` of the indexed batches after byte ``position``."""
        for i in range(_count_below(self.index, lambda e: e[1] <= position), len(self.index)):
            rel, at = self.index.get(i)
            yield self.base_offset + rel, at

    def _start_for(self, offset: int, limit_pos: int, epoch: int) -> tuple[int, int]:
        """(base offset, position) of a batch at or before ``offset`` to walk from.

        The batch the last read returned, or the one after it, when ``offset`` is there (a
        consumer reading on needs no index lookup); else the index entry, verified.
        """
        last_epoch, base, end, pos, end_pos = self._last_read
        if last_epoch == epoch and base <= offset <= end and end_pos <= limit_pos:
            return (base, pos) if offset < end else (end, end_pos)
        rel, pos = self.index.position_for(offset - self.base_offset)
        if pos and pos < limit_pos:
            cached = BATCH_CACHE.get((self, epoch, pos))
            if (_base_at(self.fd, pos) if cached is None else cached.base) != self.base_offset + rel:
                rel = pos = 0
        return self.base_offset + rel, pos

    def _batches(self, pos: int, limit_pos: int, chunk: int, max_chunk: int, epoch: int
                 ) -> Iterator[tuple[int, DecodedBatch | None, bytes, int, int]]:
        """(position, decoded batch or None, buffer, position in buffer, size) of each batch
        from ``pos``: first those the cache holds back to back, then from the file."""
        while pos < limit_pos:
            batch = BATCH_CACHE.get((self, epoch, pos))
            if batch is None or pos + batch.size > limit_pos:
                break
            yield pos, batch, b"", 0, batch.size
            pos += batch.size
        for bpos, buf, p, total in iter_batches(self.fd, pos, limit_pos, max_chunk,
                                                where=str(self.path), first_chunk=chunk):
            yield bpos, None, buf, p, total

    @staticmethod
    def _decode(buf: bytes, p: int, total: int, key: tuple, count: int, where: str
                ) -> DecodedBatch:
        """The batch at ``p`` in ``buf``: from the cache, else CRC-checked, decoded and
        cached (a one-record batch is as cheap to decode as to look up, so it is not)."""
        batch = BATCH_CACHE.get(key) if count > 1 else None
        if batch is None:
            if not batch_crc_ok(buf, p, total):
                raise CorruptRecordError(where, key[2], "CRC-32C mismatch")
            batch = decode_batch(buf, p, total, where)
            if count > 1:
                BATCH_CACHE.put(key, batch)
        return batch

    def locate(self, offset: int) -> tuple[int, bytes]:
        """(position, bytes) of the batch holding ``offset``, walking from the index hint."""
        rel, pos = self.index.position_for(offset - self.base_offset)
        if pos and _base_at(self.fd, pos) != self.base_offset + rel:
            pos = 0
        where = str(self.path)
        for bpos, buf, p, total in iter_batches(self.fd, pos, self.size, 1 << 20, where=where):
            base, count = _base_and_count(buf, p)
            if base <= offset < base + count:
                return bpos, buf[p:p + total]
        raise CorruptRecordError(where, pos, f"no batch holds offset {offset}")

    def restore(self, index_interval: int, verify_from: int, limit: int, *,
                cut_tail: bool) -> None:
        """Rebuild this segment's state from its file, trusting indexes only before a point.

        Index entries at or past ``min(verify_from, limit)`` are dropped; the batches from the
        last kept entry to ``limit`` are walked, CRC-checked (a damaged header before
        ``verify_from`` must not mislead the offsets: CRC-32C of the few KiB after the last
        index entry costs microseconds) and re-indexed exactly as appends would have. The
        walk stops at the first bad length, offset gap, empty batch or CRC; with ``cut_tail``
        the file is truncated there.
        """
        cut = min(verify_from, limit)
        keep = _count_below(self.index, lambda e: e[1] < cut)
        keep = min(keep, len(self.time_index))
        if keep and (self.time_index.get(keep - 1)[1] != self.index.get(keep - 1)[0]
                     or _base_at(self.fd, self.index.get(keep - 1)[1])
                     != self.base_offset + self.index.get(keep - 1)[0]):
            keep = 0
        self.index.truncate(keep)
        self.time_index.truncate(keep)
        if keep:
            rel, pos = self.index.get(keep - 1)
            self.max_ts = self.time_index.get(keep - 1)[0]
        else:
            rel = pos = 0
            self.max_ts = NO_TIMESTAMP
        self.size, self.next_offset, self.bytes_since_index = pos, self.base_offset + rel, 0
        self._walk(pos, limit, index_interval)
        if cut_tail:
            self.cut_tail()
        self.created_ms = _first_ts_at(self.fd) if self.size else 0

    def resume(self, position: int, next_offset: int, index_interval: int, limit: int) -> None:
        """Take bytes up to ``position`` (where ``next_offset`` starts) as they are, and walk
        and CRC-check the batches from there to ``limit``: recovery's way past damage in
        bytes that were fsynced before the checkpoint, which reads then report."""
        self.size, self.next_offset = position, next_offset
        self._walk(position, limit, index_interval)

    def _walk(self, pos: int, limit: int, index_interval: int) -> None:
        """Account the batches from ``pos`` up to the first bad length, offset gap, empty
        batch or CRC."""
        for bpos, buf, p, total in iter_batches(self.fd, pos, limit, 4 << 20, strict=False):
            base, count, max_ts = _base_count_max(buf, p)
            if base != self.next_offset or count < 1 or not batch_crc_ok(buf, p, total):
                break
            self._note(bpos, base, count, max_ts, total, index_interval)

    def cut_tail(self) -> None:
        """Truncate the file after the last batch :meth:`restore` accepted."""
        if self.size < self.file_size():
            os.ftruncate(self.fd, self.size)
            self.unsynced = True

    def is_sealed(self, next_offset: int) -> bool:
        """Whether the final time-index entry says this closed segment ends at ``next_offset``."""
        last = self.time_index.last()
        return (last is not None and last[1] == next_offset - self.base_offset
                and len(self.index) + 1 == len(self.time_index))

    def seal(self) -> None:
        """Mark the segment complete (final time-index entry) and make it durable."""
        self.time_index.append(self.max_ts, self.next_offset - self.base_offset)
        self.sync()

    def sync(self) -> None:
        os.fsync(self.fd)
        self.index.sync()
        self.time_index.sync()
        self.unsynced = False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.index.close()
            self.time_index.close()
            self.fd = -1

    def remove_files(self) -> None:
        for path in (self.path, self.index.path, self.time_index.path):
            path.unlink(missing_ok=True)


def _single_run(buf: bytes, p: int, base: int, max_count: int, file_pos: int, stride: int,
                where: str) -> DecodedBatch | None:
    """:func:`decode_single_run`, cut short before a damaged batch inside the run (the
    one-by-one decode then reaches it and reports it, after the records before it)."""
    try:
        return decode_single_run(buf, p, base, max_count, file_pos, where)
    except CorruptRecordError as exc:
        good = (exc.position - file_pos) // stride
        return decode_single_run(buf, p, base, good, file_pos, where) if good else None


def _base_and_count(buf: bytes, p: int) -> tuple[int, int]:
    fields = HEADER.unpack_from(buf, p)
    return fields[0], fields[5]


def _base_count_max(buf: bytes, p: int) -> tuple[int, int, int]:
    fields = HEADER.unpack_from(buf, p)
    return fields[0], fields[5], fields[7]


def _base_at(fd: int, pos: int) -> int | None:
    raw = os.pread(fd, HEADER_SIZE, pos)
    return HEADER.unpack(raw)[0] if len(raw) == HEADER_SIZE else None


def _first_ts_at(fd: int) -> int:
    raw = os.pread(fd, HEADER_SIZE, 0)
    return HEADER.unpack(raw)[6] if len(raw) == HEADER_SIZE else 0


def _count_below(index, keep) -> int:
    """How many leading entries of a monotone index satisfy ``keep`` (binary search)."""
    lo, hi = 0, len(index)
    while lo < hi:
        mid = (lo + hi) // 2
        if keep(index.get(mid)):
            lo = mid + 1
        else:
            hi = mid
    return lo
