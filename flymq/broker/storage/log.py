"""PartitionLog: the segmented, append-only log of one partition (or internal log).

Appends serialise on one lock and hand their bytes to the OS before returning; reads take
the lock only to snapshot (segment, committed size) and then read with pread, so they run
beside appends and only ever see whole batches.
"""

from __future__ import annotations

import bisect
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Sequence

from flymq.clock import SYSTEM_CLOCK, Clock
from flymq.errors import (CorruptRecordError, FsyncFailedError, OffsetOutOfRangeError,
                          StorageError)
from flymq.bulk import gc_paused

from .batch import (ATTR_CONTROL, ATTR_TRANSACTIONAL, CODEC_LZ4, CODEC_MASK, HEADER, BatchRun,
                    EncodedBatch, batch_crc_ok, decode_batch, encode_batch,
                    encode_one, encode_values)
from .checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from .config import FsyncPolicy, LogConfig
from .damage import NO_END, locate_damage
from .flusher import Flusher
from .files import fsync_dir, storage_error
from .record import LogRecord, Record
from .segment import LOG_SUFFIX, Segment, _count_below, iter_batches

_SCAN_CHUNK = 1 << 20
log = logging.getLogger(__name__)


class PartitionLog:
    """A directory of segments holding dense offsets from ``start_offset`` to ``end_offset``."""

    def __init__(self, directory: Path | str, config: LogConfig | None = None, *,
                 clock: Clock | None = None, flusher: Flusher | None = None, name: str = ""):
        self.directory = Path(directory)
        self.config = config or LogConfig()
        self.clock = clock or SYSTEM_CLOCK
        self.name = name or str(self.directory)
        self._lock = threading.RLock()          # appends, structure changes, snapshots
        self._sync_cond = threading.Condition()  # group commit
        self._checkpoint_lock = threading.Lock()
        self._syncing = False
        self._closed = False
        self._fsync_failure: str | None = None   # why an fsync failed: no writes after that
        self._generation = 0                     # bumped by truncate: older checkpoints are void
        self._segments: list[Segment] = []
        self._bases: list[int] = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._recover()
        except BaseException as exc:  # a failed open keeps no descriptor (a retry would leak)
            for seg in self._segments:
                seg.close()
            if isinstance(exc, OSError):
                raise storage_error(self.directory, exc) from exc
            raise
        self._synced = self._end               # an offset: everything below is fsynced
        self._checkpointed = self._end if self._clean_open else -1
        self._flusher = None
        self._always = self.config.fsync is FsyncPolicy.ALWAYS
        if self.config.fsync is not FsyncPolicy.NEVER:
            self._flusher = flusher or Flusher.shared()
            self._flusher.register(self)

    # --- opening ---------------------------------------------------------------------------

    def _recover(self) -> None:
        """Open every segment; scan and CRC-check only what follows the checkpoint."""
        bases = sorted(int(p.stem) for p in self.directory.glob("*" + LOG_SUFFIX)
                       if p.stem.isdigit())
        interval = max(1, self.config.index_interval_bytes)
        for base in bases or [0]:  # one at a time, so that a failure can close those opened
            self._segments.append(Segment(self.directory, base))
        if not bases:
            fsync_dir(self.directory)
        cp = read_checkpoint(self.directory)
        start = self._trusted_start(cp)
        first_scanned = len(self._segments) - 1 if start is None else start[0]
        for i, seg in enumerate(self._segments[:first_scanned]):
            self._open_closed_segment(seg, self._segments[i + 1].base_offset, interval)
        self._clean_open = False
        for i in range(first_scanned, len(self._segments)):
            seg = self._segments[i]
            if i > first_scanned and seg.base_offset != self._segments[i - 1].next_offset:
                self._drop_segments_from(i)
                break
            verify_from = start[1] if start and i == first_scanned else 0
            size = seg.file_size()
            seg.restore(interval, verify_from, size, cut_tail=False)
            if seg.size < verify_from:  # damage in bytes fsynced before the checkpoint
                seg.resume(verify_from, cp.next_offset, interval, size)
            if i == first_scanned and start and verify_from == size == seg.size:
                self._clean_open = i == len(self._segments) - 1
            if seg.size < size:
                self._report_cut(seg, size, len(self._segments) - i - 1)
                seg.cut_tail()
                if i + 1 < len(self._segments):
                    self._drop_segments_from(i + 1)
                break
        self._bases = [s.base_offset for s in self._segments]
        self._active = self._segments[-1]
        self._start = self._segments[0].base_offset
        self._end = self._active.next_offset

    def _report_cut(self, seg: Segment, size: int, later: int) -> None:
        """Warn of the bytes recovery is about to cut from ``seg`` (and of ``later``
        segments): an unfinished write, or damage that sound batches follow (then dropped
        with it, as Kafka does with an unflushed tail)."""
        damage = locate_damage(seg.fd, seg.size, size, seg.next_offset, NO_END)
        after = (f"sound batches follow it from byte {damage.end_position} (offset "
                 f"{damage.end_offset}) and are dropped with it"
                 if damage.end_position < size else "an unfinished write")
        log.warning("%s: recovery cuts %s at byte %d of %s (offset %d on)%s: %s", self.name,
                    f"{size - seg.size} bytes", seg.size, seg.path, seg.next_offset,
                    f" and {later} later segment(s)" if later else "", after)

    def _trusted_start(self, cp: Checkpoint | None) -> tuple[int, int] | None:
        """(segment index, position) from which recovery must CRC-check, if the checkpoint
        still describes this directory; None means "scan the last segment from its start"."""
        if cp is None:
            return None
        bases = [s.base_offset for s in self._segments]
        i = bisect.bisect_left(bases, cp.segment_base)
        if i == len(bases) or bases[i] != cp.segment_base:
            return None
        seg = self._segments[i]
        size = seg.file_size()
        if cp.position > size:
            return None
        if cp.position < size:
            raw = os.pread(seg.fd, HEADER.size, cp.position)
            if len(raw) < HEADER.size or HEADER.unpack(raw)[0] != cp.next_offset:
                return None
        return i, cp.position

    def _open_closed_segment(self, seg: Segment, next_offset: int, interval: int) -> None:
        size = seg.file_size()
        if not (seg.indexes_existed and seg.is_sealed(next_offset)):
            seg.index.truncate(0)
            seg.time_index.truncate(0)
            seg.restore(interval, size, size, cut_tail=False)
            seg.seal()
        seg.size, seg.next_offset = size, next_offset
        seg.max_ts = seg.time_index.last()[0]
        seg.unsynced = False

    def _drop_segments_from(self, i: int) -> None:
        for seg in self._segments[i:]:
            seg.close()
            seg.remove_files()
        del self._segments[i:]
        fsync_dir(self.directory)

    # --- offsets ---------------------------------------------------------------------------

    @property
    def start_offset(self) -> int:
        return self._start

    @property
    def end_offset(self) -> int:
        return self._end

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return sum(s.size for s in self._segments)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    # --- append ----------------------------------------------------------------------------

    def append(self, records: Sequence[Record], *, producer_id: int = -1, producer_epoch: int = -1,
               base_sequence: int = -1, transactional: bool = False, control: bool = False,
               compression: str | None = None, wait: bool = True, now: int | None = None
               ) -> int:
        """Append one batch; returns its base offset once the OS has it (and, under the
        ``always`` policy, once an fsync covers it). ``now``: the caller's reading of the
        log's clock, if it has one (a second reading is a Python call per append).

        ``wait=False`` returns as soon as the OS has the batch, even under ``always``: the
        caller then acknowledges only after :meth:`wait_durable` (base + count), so that
        appenders never hold a lock of theirs while the fsync runs, and one fsync covers
        every append made meanwhile.
        """
        if now is None:
            now = self.clock.now_ms()
        batch = encode_batch(records, now, producer_id=producer_id,
                             producer_epoch=producer_epoch, base_sequence=base_sequence,
                             transactional=transactional, control=control,
                             compression=compression or self.config.compression)
        return self._append_encoded(batch, now, wait)

    def append_record(self, value: bytes, key: bytes | None, timestamp: int,
                      expire_at: int | None, now: int, wait: bool) -> int:
        """:meth:`append` of one record without headers or producer, stamped ``timestamp``,
        in the log's codec: the single produce, without record tuples or keyword arguments
        (they cost the most frequent append more than its encoding)."""
        batch = encode_one(value, key, timestamp, expire_at) \
            if self.config.compression == "none" else None
        if batch is None:
            return self.append(((value, key, timestamp, (), expire_at),), wait=wait, now=now)
        return self._append_encoded(batch, now, wait)

    def append_values(self, values: Sequence[bytes], *, timestamp: int = 0,
                      producer_id: int = -1, producer_epoch: int = -1, base_sequence: int = -1,
                      transactional: bool = False, control: bool = False,
                      compression: str | None = None, wait: bool = True) -> int:
        """:meth:`append` of keyless, headerless, no-TTL records given as their values only,
        all stamped ``timestamp`` (0: the log's clock now). Writes exactly the bytes
        :meth:`append` writes for ``[Record(v, timestamp=...) for v in values]``, without
        building or reading any record object (the common producer batch)."""
        now = self.clock.now_ms()
        batch = encode_values(values, timestamp or now, producer_id=producer_id,
                              producer_epoch=producer_epoch, base_sequence=base_sequence,
                              transactional=transactional, control=control,
                              compression=compression or self.config.compression)
        return self._append_encoded(batch, now, wait)

    def _append_encoded(self, batch: EncodedBatch, now: int, wait: bool) -> int:
        """Write an encoded batch at the end under the lock (rolling first if due)."""
        config = self.config
        with self._lock:
            if self._closed:
                raise StorageError(f"log {self.name} is closed")
            if self._fsync_failure is not None:
                self._check_fsync()
            seg = self._active
            if seg.next_offset == seg.base_offset:            # empty: its age starts now
                seg.created_ms = now
            elif (seg.size + len(batch[0]) + 8 > config.segment_bytes
                  or now - seg.created_ms >= config.segment_ms):
                seg = self._roll()
                seg.created_ms = now
            base = self._end
            seg.append(base, batch, config.index_interval_bytes)
            self._end = seg.next_offset
        if wait and self._always:
            self._await_sync(base + batch[1])
        return base

    def wait_durable(self, end_offset: int) -> None:
        """Return once every offset below ``end_offset`` is as durable as the policy promises
        (under ``always``: fsynced, by this caller or by a group commit that covered it)."""
        if self._always:
            self._await_sync(end_offset)

    def is_durable(self, end_offset: int) -> bool:
        """Whether :meth:`wait_durable` would return at once."""
        return not self._always or self._synced >= end_offset

    def tail_producers(self, max_bytes: int = 1 << 20) -> list[tuple[int, int, int, int, int]]:
        """``(producer_id, epoch, base_sequence, count, base_offset)`` of the batches in about
        the last ``max_bytes`` of the log, oldest first: what a partition rebuilds its
        idempotent-producer state from at open, reading headers only, never the whole log.
        The walk ends at the segment's last offset (a sealed segment's padding is no batch)
        and goes on after a damaged stretch: the producers around it still count."""
        with self._lock:
            self._check_open()
            segments = self._segments[-2:] if self._active.empty else [self._active]
            seg = segments[0]
            limit, end = seg.size, seg.next_offset
            seg.pins += 1
        out = []
        try:
            start = limit - max_bytes
            indexed = _count_below(seg.index, lambda entry: entry[1] <= start)
            rel, pos = seg.index.get(indexed - 1) if indexed and start > 0 else (0, 0)
            expected = seg.base_offset + rel
            while pos < limit and expected < end:
                try:
                    for at, buf, p, total in iter_batches(seg.fd, pos, limit, _SCAN_CHUNK,
                                                          where=str(seg.path)):
                        fields = HEADER.unpack_from(buf, p)
                        out.append((fields[8], fields[9], fields[10], fields[5], fields[0]))
                        pos, expected = at + total, fields[0] + fields[5]
                        if expected >= end:
                            break
                    else:
                        pos = limit
                except CorruptRecordError as exc:
                    damage = locate_damage(seg.fd, exc.position, limit, expected, end)
                    pos, expected = damage.end_position, damage.end_offset
        finally:
            self._unpin(seg)
        return out

    def _roll(self) -> Segment:
        """Seal the active segment and start a new one (called under the lock)."""
        old = self._active
        try:
            old.seal()
        except OSError as exc:
            raise self._fsync_failed(old, exc) from exc
        try:
            seg = Segment(self.directory, self._end)
        except OSError as exc:  # e.g. out of file descriptors: the next append tries again
            raise StorageError(f"cannot start a segment in {self.directory}: {exc}") from exc
        try:
            fsync_dir(self.directory)
        except BaseException as exc:  # the new segment keeps no descriptor; the next append retries
            seg.close()
            if isinstance(exc, OSError):
                raise self._fsync_failed(old, exc) from exc
            raise
        self._segments.append(seg)
        self._bases.append(seg.base_offset)
        self._active = seg
        self._save_checkpoint(Checkpoint(seg.base_offset, 0, self._end), self._generation,
                              sync_dir=False)
        return seg

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"log {self.name} is closed")

    def _check_fsync(self) -> None:
        if self._fsync_failure is not None:
            raise FsyncFailedError(self.name, self._fsync_failure)

    def _fsync_failed(self, seg: Segment, exc: OSError) -> FsyncFailedError:
        """Fail the log for writes (the first failure is the one reported)."""
        self._fsync_failure = self._fsync_failure or f"{seg.path}: {exc}"
        return FsyncFailedError(self.name, self._fsync_failure)

    @property
    def failed(self) -> bool:
        """Whether an fsync failed (reads still work; writes raise FsyncFailedError)."""
        return self._fsync_failure is not None

    # --- durability ------------------------------------------------------------------------

    def _await_sync(self, target: int) -> None:
        """Group commit: the first waiter fsyncs for everyone whose append it covers."""
        while True:
            with self._sync_cond:
                while self._synced < target and self._syncing:
                    self._sync_cond.wait()
                if self._synced >= target:
                    return
                self._check_fsync()  # never retry: a second fsync may "succeed" falsely
                self._syncing = True
            try:
                self._sync_data()
            finally:
                with self._sync_cond:
                    self._syncing = False
                    self._sync_cond.notify_all()

    def _sync_data(self, full: bool = False) -> tuple[Checkpoint, int]:
        """fsync the active segment; returns the checkpoint that fsync made valid."""
        with self._lock:
            seg = self._active
            cp = Checkpoint(seg.base_offset, seg.size, seg.next_offset)
            generation = self._generation
            seg.pins += 1
        try:
            if full:
                seg.sync()
            else:
                os.fsync(seg.fd)
        except OSError as exc:
            raise self._fsync_failed(seg, exc) from exc
        finally:
            self._unpin(seg)
        with self._sync_cond:
            self._synced = max(self._synced, cp.next_offset) if generation == self._generation \
                else self._synced
        return cp, generation

    def flush(self) -> None:
        """fsync now and move the recovery checkpoint to what was fsynced."""
        with self._lock:
            self._check_open()
            self._check_fsync()
        cp, generation = self._sync_data(full=True)
        self._save_checkpoint(cp, generation, sync_dir=False)

    def _save_checkpoint(self, cp: Checkpoint, generation: int, *, sync_dir: bool) -> None:
        with self._checkpoint_lock:
            if generation != self._generation or cp.next_offset <= self._checkpointed and not sync_dir:
                return
            write_checkpoint(self.directory, cp, sync_dir=sync_dir)
            self._checkpointed = cp.next_offset

    def flush_interval_s(self) -> float:
        return max(1, self.config.fsync_interval_ms) / 1000.0

    def needs_flush(self) -> bool:
        return not self._closed and not self.failed and self._checkpointed < self._end

    # --- read ------------------------------------------------------------------------------

    def read(self, offset: int, max_records: int = 1000, max_bytes: int = 1 << 20
             ) -> list[LogRecord]:
        """Records from ``offset`` on: [] at the end, at least one record if any exists."""
        out: list[LogRecord] = []
        with gc_paused():
            for batch, start, stop in self.read_runs(offset, max_records, max_bytes):
                out += batch.records(start, stop)
        return out

    def read_runs(self, offset: int, max_records: int = 1000, max_bytes: int = 1 << 20
                  ) -> list[BatchRun]:
        """What :meth:`read` returns, as runs of decoded batches (columns, no per-record
        objects): the fast path for readers that build their own messages or replies."""
        runs: list[BatchRun] = []
        taken = used = 0
        with self._lock:
            self._check_open()
            if offset < self._start or offset > self._end:
                raise self._out_of_range(offset)
        while taken < max_records and used < max_bytes:
            with self._lock:
                if offset >= self._end or offset < self._start:
                    break
                seg = self._segments[bisect.bisect_right(self._bases, offset) - 1]
                limit, epoch, seg_end = seg.size, seg.epoch, seg.next_offset
                seg.pins += 1
            try:
                got, n = seg.read(offset, limit, seg_end, max_records - taken,
                                  max(1, max_bytes - used), epoch)
            except CorruptRecordError as exc:
                if runs:  # the records before the damage; the next read starts at it
                    break
                raise self._named(exc) from None
            finally:
                self._unpin(seg)
            runs += got
            taken += sum(stop - start for _, start, stop in got)
            used += n
            if not got:
                break
            last = got[-1]
            if last.batch.base + last.stop < seg_end:
                break
            offset = seg_end
        return runs

    def _unpin(self, seg: Segment) -> None:
        with self._lock:
            seg.pins -= 1
            if seg.retired and seg.pins == 0:
                seg.close()

    def _topic_partition(self) -> tuple[str, int | None]:
        """The topic and partition this log's ``name`` ("orders/0") gives, for errors."""
        topic, _, part = self.name.rpartition("/")
        return (topic, int(part)) if topic and part.isdigit() else (self.name, None)

    def _out_of_range(self, offset: int) -> OffsetOutOfRangeError:
        topic, partition = self._topic_partition()
        return OffsetOutOfRangeError(topic, offset, partition=partition, start=self._start,
                                     end=self._end)

    def _named(self, exc: CorruptRecordError) -> CorruptRecordError:
        """``exc`` naming this log's topic and partition."""
        if exc.first_offset is None:
            return exc
        topic, partition = self._topic_partition()
        return CorruptRecordError(exc.path, exc.position, exc.detail, topic=topic,
                                  partition=partition, offsets=(exc.first_offset, exc.end_offset),
                                  end_position=exc.end_position)

    def offset_for_timestamp(self, timestamp_ms: int) -> int | None:
        """The first offset whose record timestamp is >= ``timestamp_ms`` (None if none is)."""
        with self._lock:
            self._check_open()
            candidates = [s for s in self._segments if s.max_ts >= timestamp_ms]
            if not candidates:
                return None
            seg = candidates[0]
            limit = seg.size
            seg.pins += 1
        try:
            entry = seg.time_index.last_before(timestamp_ms, inclusive=False)
            rel = entry[1] if entry else 0
            if rel >= seg.next_offset - seg.base_offset:   # the seal entry: nothing to skip to
                rel = 0
            _, pos = seg.index.position_for(rel)
            for bpos, buf, p, total in iter_batches(seg.fd, pos, limit, _SCAN_CHUNK,
                                                    where=str(seg.path)):
                fields = HEADER.unpack_from(buf, p)
                if fields[7] < timestamp_ms:
                    continue
                if not batch_crc_ok(buf, p, total):
                    raise CorruptRecordError(str(seg.path), bpos, "CRC-32C mismatch")
                batch = decode_batch(buf, p, total, str(seg.path))
                for i, ts in enumerate(batch.timestamps):
                    if ts >= timestamp_ms:
                        return batch.base + i
        finally:
            self._unpin(seg)
        return None

    # --- truncation, retention, lifecycle ---------------------------------------------------

    def truncate(self, offset: int, *, damaged_from: int | None = None) -> None:
        """Drop ``offset`` and everything after it (a batch it falls inside is rewritten
        to keep the records before it). No-op at or past the end.

        ``damaged_from``: the byte where the damaged batch holding ``offset`` starts (a
        read's CorruptRecordError ``position``); the file is cut there without reading it."""
        with self._lock:
            self._check_open()
            if offset >= self._end:
                return
            if offset < self._start:
                raise self._out_of_range(offset)
            i = bisect.bisect_right(self._bases, offset) - 1
            for seg in self._segments[i + 1:]:
                self._retire(seg)
            del self._segments[i + 1:], self._bases[i + 1:]
            seg = self._active = self._segments[i]
            if damaged_from is None:
                self._cut(seg, offset)
            else:
                seg.epoch += 1  # the batch cache must not serve the old bytes at these positions
                seg.restore(max(1, self.config.index_interval_bytes), damaged_from,
                            damaged_from, cut_tail=True)
            self._end = seg.next_offset
            self._generation += 1
            seg.sync()
            fsync_dir(self.directory)
            with self._sync_cond:
                self._synced = self._end
            self._checkpointed = -1
            self._save_checkpoint(Checkpoint(seg.base_offset, seg.size, self._end),
                                  self._generation, sync_dir=True)

    def _cut(self, seg: Segment, offset: int) -> None:
        """Cut ``seg`` so that its last offset is ``offset - 1``; a batch that straddles the
        cut is rewritten with only the records before it (same producer and attributes)."""
        interval = max(1, self.config.index_interval_bytes)
        pos, raw = seg.locate(offset)
        fields = HEADER.unpack_from(raw)
        base, attrs = fields[0], fields[4]
        kept = None
        if base < offset:
            where = str(seg.path)
            if not batch_crc_ok(raw, 0, len(raw)):
                raise CorruptRecordError(where, pos, "CRC-32C mismatch")
            records = [Record(r.value, r.key, r.timestamp, r.headers, r.expire_at)
                       for r in decode_batch(raw, 0, len(raw), where).records(0, offset - base)]
            kept = encode_batch(records, 0, producer_id=fields[8], producer_epoch=fields[9],
                                base_sequence=fields[10],
                                transactional=bool(attrs & ATTR_TRANSACTIONAL),
                                control=bool(attrs & ATTR_CONTROL),
                                compression="lz4" if attrs & CODEC_MASK == CODEC_LZ4 else "none")
        seg.epoch += 1  # the batch cache must not serve the old bytes at these positions
        seg.restore(interval, pos, pos, cut_tail=True)
        if kept is not None:
            seg.append(base, kept, interval)

    def apply_retention(self) -> int:
        """Delete whole old segments past ``retention_ms`` or beyond ``retention_bytes``
        (never the active one); moves ``start_offset``. Returns how many were deleted."""
        cfg = self.config
        with self._lock:
            self._check_open()
            old = self._segments[:-1]
            n = 0
            if cfg.retention_ms is not None:
                horizon = self.clock.now_ms() - cfg.retention_ms
                while n < len(old) and old[n].max_ts < horizon:
                    n += 1
            if cfg.retention_bytes is not None:
                total = sum(s.size for s in self._segments[n:])
                while n < len(old) and total > cfg.retention_bytes:
                    total -= old[n].size
                    n += 1
            return self._drop_head(n)

    def delete_before(self, offset: int) -> int:
        """Delete the whole sealed segments that hold only offsets below ``offset`` (records
        their owner no longer needs: expired, or delivered delayed messages); moves
        ``start_offset``. Returns how many records went."""
        with self._lock:
            self._check_open()
            n = 0
            while n < len(self._segments) - 1 and self._segments[n + 1].base_offset <= offset:
                n += 1
            removed = self._segments[n].base_offset - self._start if n else 0
            self._drop_head(n)
            return removed

    def _drop_head(self, n: int) -> int:
        """Retire the first ``n`` segments (called under the lock; never the active one)."""
        if not n:
            return 0
        for seg in self._segments[:n]:
            self._retire(seg)
        del self._segments[:n], self._bases[:n]
        self._start = self._segments[0].base_offset
        fsync_dir(self.directory)
        return n

    def _retire(self, seg: Segment) -> None:
        """Remove a segment's files now and close it once no reader holds it (under lock)."""
        seg.remove_files()
        seg.retired = True
        if seg.pins == 0:
            seg.close()

    def close(self) -> None:
        """fsync, checkpoint at the end (so the next open scans nothing) and close files.

        After a failed fsync nothing is fsynced or checkpointed again: the next open scans
        and CRC-checks everything after the last good checkpoint."""
        with self._lock:
            if self._closed:
                return
        if self._flusher is not None:
            self._flusher.unregister(self)
        try:
            if not self.failed:
                self.flush()
        finally:  # a flush that failed (no descriptor left for the checkpoint) leaks nothing
            with self._lock:
                self._closed = True
                for seg in self._segments:
                    seg.retired = True
                    if seg.pins == 0:
                        seg.close()

    def delete(self) -> None:
        """Close the log and remove its directory."""
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "PartitionLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PartitionLog({self.name!r}, start={self._start}, end={self._end})"
