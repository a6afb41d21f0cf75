"""The leader of one partition: the only writer of its log and the place readers wait.

The log is opened on first use, so a broker with many partitions starts at once and a topic
with thousands of partitions costs nothing until they are used. Appends go straight to the log
(which is thread-safe, assigns offsets and batches fsyncs across concurrent appends); the leader
then wakes blocked fetchers and watch callbacks. Readers never look past the high watermark,
which is where a last-stable-offset bound for transactions will plug in.
"""

from __future__ import annotations

import operator
import threading
from pathlib import Path
from typing import Callable, Sequence

from flymq.broker.filter import Predicate
from flymq.broker.storage import Flusher, LogConfig, LogRecord, PartitionLog, Record
from flymq.clock import Clock
from flymq.errors import OffsetOutOfRangeError, TopicNotFoundError

#: Records FETCH examines at most per request (wire spec §7.6).
SCAN_LIMIT = 1000


def is_live(record: LogRecord, now_ms: int) -> bool:
    """Whether a record may still be delivered (its TTL, if any, has not passed)."""
    return record.expire_at is None or record.expire_at > now_ms


class PartitionLeader:
    """Owns one partition's :class:`PartitionLog`; thread-safe."""

    def __init__(self, topic: str, index: int, directory: Path, log_config: LogConfig, *,
                 clock: Clock, flusher: Flusher | None):
        self.topic = topic
        self.index = index
        self.directory = directory
        self._log_config = log_config
        self._clock = clock
        self._flusher = flusher
        self._log: PartitionLog | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._blocked = 0
        self._watchers: dict[int, tuple[int, Callable[[], None]]] = {}
        self._next_watch_id = 0
        self._closed = False

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def log(self) -> PartitionLog:
        """The partition's log, opened (and recovered) on first use."""
        log = self._log
        if log is None:
            with self._lock:
                if self._closed:  # the topic was deleted under a caller's feet
                    raise TopicNotFoundError(self.topic)
                if self._log is None:
                    opened = PartitionLog(self.directory, self._log_config, clock=self._clock,
                                          flusher=self._flusher,
                                          name=f"{self.topic}/{self.index}")
                    self._log = opened
                log = self._log
        return log

    def _opened(self) -> PartitionLog:
        """The log, opening it if needed (the common case is one attribute read)."""
        return self._log or self.log

    def apply_retention(self) -> int:
        """Drop whole segments past the retention limits; a partition never written has none."""
        if self._log is None and not self.directory.exists():
            return 0
        return self.log.apply_retention()

    def close(self) -> None:
        """Flush and release the log; waiters are woken and find nothing more to read."""
        with self._lock:
            self._closed = True
            log, self._log = self._log, None
            fired = [cb for _, cb in self._watchers.values()]
            self._watchers.clear()
            self._changed.notify_all()
        for callback in fired:
            callback()
        if log is not None:
            log.close()

    # --- writing ----------------------------------------------------------------------------
    @property
    def high_watermark(self) -> int:
        """One past the last offset readers may see: the log end offset, until transactions
        bring a last stable offset below it."""
        return self._opened().end_offset

    def append(self, records: Sequence[Record]) -> int:
        """Append ``records`` in order; returns the offset of the first.

        No leader lock on this path: a waiter registers before it reads the end offset and
        the appender checks for waiters after the log moved the end offset, so one of the two
        always sees the other.
        """
        base = (self._log or self.log).append(records)  # _opened(), inlined: hot path
        if self._blocked or self._watchers:
            self._wake(base + len(records))
        return base

    def _wake(self, end: int) -> None:
        with self._lock:
            self._changed.notify_all()
            fired = self._take_watchers_below(end)
        for callback in fired:
            callback()

    def _take_watchers_below(self, end: int) -> list[Callable[[], None]]:
        ready = [wid for wid, (offset, _) in self._watchers.items() if end > offset]
        return [self._watchers.pop(wid)[1] for wid in ready]

    # --- waiting ----------------------------------------------------------------------------
    def watch(self, offset: int, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once when data past ``offset`` exists or the partition closes."""
        self._opened()  # before registering, so close() can fire the callback
        with self._lock:
            # _closed first: after close() the log is gone and must not be reopened
            if not self._closed and self.high_watermark <= offset:
                watch_id = self._next_watch_id
                self._next_watch_id += 1
                self._watchers[watch_id] = (offset, callback)

                def cancel() -> None:
                    with self._lock:
                        self._watchers.pop(watch_id, None)
                return cancel
        callback()
        return _nothing

    def wait_for_data(self, offset: int, timeout_s: float) -> None:
        """Block until data past ``offset`` exists, the partition closes, or time runs out."""
        self._opened()  # high_watermark must not open the log under the lock
        with self._lock:
            self._blocked += 1
            try:
                self._changed.wait_for(lambda: self._closed or self.high_watermark > offset,
                                       timeout_s)
            finally:
                self._blocked -= 1

    # --- reading ----------------------------------------------------------------------------
    def offsets(self) -> tuple[int, int]:
        """(first retained offset, high watermark)."""
        log = self._opened()
        return log.start_offset, self.high_watermark

    def record_at(self, offset: int, now_ms: int) -> LogRecord:
        """The live record at ``offset``; OffsetOutOfRangeError (wire ``EOF``) otherwise."""
        log = self._opened()
        start, end = log.start_offset, self.high_watermark
        if start <= offset < end:
            try:
                records = log.read(offset, 1)
            except OffsetOutOfRangeError:  # retention removed it meanwhile
                records = []
            if records and is_live(records[0], now_ms):
                return records[0]
        raise OffsetOutOfRangeError(self.topic, offset, partition=self.index, start=start,
                                    end=end)

    def scan(self, offset: int, max_messages: int, predicate: Predicate | None, now_ms: int,
             max_bytes: int) -> tuple[list[LogRecord], int]:
        """FETCH's loop (wire spec §7.6): up to ``max_messages`` live, matching records from
        ``offset``, examining at most :data:`SCAN_LIMIT`; returns them and the first offset not
        examined. Nothing readable at ``offset`` gives ``([], offset)``."""
        log = self._opened()
        end = self.high_watermark
        if offset >= end or offset < log.start_offset:
            return [], offset
        found: list[LogRecord] = []
        pos, budget = offset, SCAN_LIMIT
        while pos < end and budget > 0 and len(found) < max_messages:
            want = min(budget, end - pos)
            if predicate is None:
                want = min(want, max_messages - len(found))
            try:
                batch = log.read(pos, want, max_bytes)
            except OffsetOutOfRangeError:  # retention overtook the reader
                break
            if not batch:
                break
            if predicate is None:
                live = [r for r in batch if r.expire_at is None or r.expire_at > now_ms]
                size = sum(map(len, map(_value_of, live)))
                if size > max_bytes:  # storage budgets whole batches; trim to records
                    live = _within_budget(live, max_bytes, first=not found)
                    found.extend(live)
                    if live:
                        pos = live[-1].offset + 1
                    break
                found.extend(live)
                max_bytes -= size
                pos = batch[-1].offset + 1
                budget -= len(batch)
            else:
                for record in batch:
                    pos = record.offset + 1
                    budget -= 1
                    if is_live(record, now_ms) and predicate(record.key, record.value):
                        found.append(record)
                        max_bytes -= len(record.value) + len(record.key or b"")
                        if len(found) >= max_messages or max_bytes <= 0:
                            break
            if len(batch) < want or max_bytes <= 0:  # the byte budget is spent
                break
        return found, pos


_value_of = operator.itemgetter(3)  # LogRecord.value, for a C-speed size sum


def _within_budget(records: list[LogRecord], max_bytes: int, *, first: bool) -> list[LogRecord]:
    """The longest prefix of ``records`` whose values fit ``max_bytes`` (at least one record
    when ``first``, so a reader never stalls on a record larger than its budget)."""
    used = 0
    for i, record in enumerate(records):
        used += len(record.value)
        if used > max_bytes:
            return records[:max(i, 1 if first else 0)]
    return records


def _nothing() -> None:
    """Cancel function of a watch that already fired."""
