"""The leader of one partition: the only writer of its log and the place readers wait.

The log is opened on first use, so a broker with many partitions starts at once and a topic
with thousands of partitions costs nothing until they are used. Appends go straight to the log
(which is thread-safe, assigns offsets and batches fsyncs across concurrent appends); the leader
then wakes blocked fetchers and watch callbacks. Readers never look past the high watermark,
which is where a last-stable-offset bound for transactions will plug in.
"""

from __future__ import annotations

import bisect
import threading
import time
from itertools import accumulate
from pathlib import Path
from typing import Callable, Iterator, Sequence

from flymq.broker.appends import DURABLE, AppendRequest, Durability
from flymq.broker.filter import Predicate
from flymq.broker.producers import ProducerTable
from flymq.broker.storage import (BatchRun, DecodedBatch, Flusher, FsyncPolicy, LogConfig,
                                  PartitionLog, Record)
from flymq.broker.txn_state import PartitionTxns
from flymq.clock import Clock
from flymq.errors import CorruptRecordError, OffsetOutOfRangeError, TopicNotFoundError

#: Records a standard FETCH examines at most per request (wire spec §7.6); flymq's own fetch
#: (embedded, FETCH_EX) examines at least this many and up to ``max_messages``.
SCAN_LIMIT = 1000
#: Seconds of filter evaluation one fetch may spend before answering with what it found.
FILTER_TIME_BUDGET_S = 0.05


class PartitionLeader:
    """Owns one partition's :class:`PartitionLog`; thread-safe."""

    def __init__(self, topic: str, index: int, directory: Path, log_config: LogConfig, *,
                 clock: Clock, flusher: Flusher | None):
        self.topic = topic
        self.index = index
        self.directory = directory
        self._log_config = log_config
        #: an append is as durable as its policy promises once the OS has it (every policy
        #: but ``always``): appenders skip asking :meth:`durability`
        self.durable_when_written = log_config.fsync is not FsyncPolicy.ALWAYS
        self._clock = clock
        self._flusher = flusher
        self._log: PartitionLog | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._blocked = 0
        self._watchers: dict[int, tuple[int, Callable[[], None]]] = {}
        self._next_watch_id = 0
        self._closed = False
        self._producers: ProducerTable | None = None   # rebuilt from the log tail when needed
        self._producers_lock = threading.Lock()
        self.txns = PartitionTxns()   # the last stable offset and aborted data (transactions)

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
        """One past the last offset readers may see: the last stable offset, which is the
        log end offset unless a transaction's commit is in flight (:mod:`txn_state`)."""
        return self.txns.stable_end(self._opened().end_offset)

    def append(self, request: AppendRequest, records: Sequence, timestamp: int | None = None,
               *, now: int | None = None) -> int:
        """Append this partition's share of ``request`` in order; returns the offset of the
        first record. ``records`` are :class:`Record` objects, or values only when
        ``timestamp`` is given (keyless, headerless records all stamped ``timestamp``: the
        common producer batch, encoded without record objects).

        No leader lock on this path: a waiter registers before it reads the end offset and
        the appender checks for waiters after the log moved the end offset, so one of the two
        always sees the other. ``request.wait`` False skips waiting for an ``fsync=always``
        commit (see :meth:`durability`). ``now``: the caller's clock reading, if it has one,
        which saves the log a second one.
        """
        if request.producer is not None:
            return self._append_idempotent(request, records, timestamp)
        log = self._log or self.log  # _opened(), inlined
        if timestamp is None:
            base = log.append(records, wait=request.wait, compression=request.compression,
                              now=now)
        else:
            base = log.append_values(records, timestamp=timestamp, wait=request.wait,
                                     compression=request.compression)
        if self._blocked or self._watchers:
            self._wake(base + len(records))
        return base

    def append_record(self, value: bytes, key: bytes | None, timestamp: int,
                      expire_at: int | None, now: int, wait: bool) -> int:
        """:meth:`append` of one record without headers, producer or codec override: the
        single produce (:meth:`PartitionLog.append_record`); returns its offset."""
        log = self._log or self.log  # _opened(), inlined
        offset = log.append_record(value, key, timestamp, expire_at, now, wait)
        if self._blocked or self._watchers:
            self._wake(offset + 1)
        return offset

    def _append_idempotent(self, request: AppendRequest, records: Sequence,
                           timestamp: int | None) -> int:
        """Append a batch of an idempotent producer ``(id, epoch, base_sequence)`` once: a
        batch sent again is answered with the offset it got the first time; a sequence gap
        raises ``OutOfOrderSequenceError``. Check and append are one step per partition."""
        producer_id, epoch, sequence = request.producer
        log = self._opened()
        options = dict(producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
                       wait=False, compression=request.compression)
        with self._producers_lock:
            table = self._producers
            if table is None:
                table = self._producers = ProducerTable.rebuild(
                    f"{self.topic}/{self.index}", log.tail_producers())
            base = table.check(producer_id, epoch, sequence, len(records))
            fresh = base is None
            if fresh:
                base = log.append(records, **options) if timestamp is None else \
                    log.append_values(records, timestamp=timestamp, **options)
                table.record(producer_id, epoch, sequence, len(records), base)
        if request.wait:
            log.wait_durable(base + len(records))
        if fresh and (self._blocked or self._watchers):
            self._wake(base + len(records))
        return base

    # --- transactions (called by the coordinator, flymq/broker/transactions.py) ----------------
    def begin_transactional(self, producer_id: int) -> int:
        """Hold readers below the current log end until :meth:`end_transactional`; returns
        that offset, the first one this producer's data can take."""
        first = self._opened().end_offset
        self.txns.pending[producer_id] = first
        return first

    def append_transactional(self, records: Sequence[Record], producer_id: int,
                             epoch: int) -> int:
        """Append a transaction's records as one transactional batch (not waiting for an
        fsync: the coordinator waits on :meth:`wait_durable`); returns the end offset."""
        base = self._opened().append(records, producer_id=producer_id, producer_epoch=epoch,
                                     transactional=True, wait=False)
        return base + len(records)

    @property
    def syncs_each_append(self) -> bool:
        """Whether an append is acknowledged only after an fsync (``fsync=always``)."""
        return self._log_config.fsync is FsyncPolicy.ALWAYS

    def append_one_phase(self, records: Sequence[Record]) -> int | None:
        """A one-partition transaction's commit: its records as one plain batch, which a
        crash leaves whole or absent, so it needs no producer id, transaction-log record or
        marker. Returns the end offset (for :meth:`wait_durable`); None, with nothing
        written, under ``fsync=always``, where readers must not see the data before its
        fsync succeeded (the coordinator then takes the two-phase path, which hides it until
        then)."""
        if self.syncs_each_append:
            return None
        end = self._opened().append(records, wait=False) + len(records)
        if self._blocked or self._watchers:
            self._wake(end)
        return end

    def end_transactional(self, producer_id: int, epoch: int, commit: bool, *,
                          marker: bool = True) -> None:
        """The transaction's outcome is decided: write its commit or abort marker (a control
        batch, as Kafka does), remember aborted data, release readers and wake waiters."""
        first = self.txns.pending.get(producer_id)
        try:
            if marker:
                self._opened().append((TXN_COMMIT_MARKER if commit else TXN_ABORT_MARKER,),
                                      producer_id=producer_id, producer_epoch=epoch,
                                      transactional=True, control=True, wait=False)
        finally:
            if not commit and first is not None:
                self.txns.aborted[producer_id] = first
            self.txns.pending.pop(producer_id, None)
            if self._log is not None and (self._blocked or self._watchers):
                self._wake(self._log.end_offset)

    def durability(self, end_offset: int) -> Durability:
        """The handle an appender with ``wait=False`` waits on for offsets below
        ``end_offset`` to be durable under the log's policy."""
        log = self._log
        if log is None or log.is_durable(end_offset):
            return DURABLE
        return Durability(((self, end_offset),))

    def wait_durable(self, end_offset: int) -> None:
        """Wait until offsets below ``end_offset`` are durable; a closed partition (its
        topic deleted, the broker closed) flushed everything when it closed."""
        log = self._log
        if log is not None:
            log.wait_durable(end_offset)

    def is_durable(self, end_offset: int) -> bool:
        log = self._log
        return log is None or log.is_durable(end_offset)

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

    def record_at(self, offset: int, now_ms: int) -> BatchRun:
        """The live record at ``offset`` (a run of one); OffsetOutOfRangeError (wire ``EOF``)
        otherwise."""
        log = self._opened()
        start, end = log.start_offset, self.high_watermark
        if start <= offset < end:
            try:
                runs = log.read_runs(offset, 1)
            except OffsetOutOfRangeError:  # retention removed it meanwhile
                runs = []
            if runs and is_live(runs[0].batch, runs[0].start, now_ms) and \
                    not self._hidden(runs[0].batch, committed=True):
                return runs[0]
        raise OffsetOutOfRangeError(self.topic, offset, partition=self.index, start=start,
                                    end=end)

    def scan(self, offset: int, max_messages: int, predicate: Predicate | None, now_ms: int,
             max_bytes: int, scan_limit: int = SCAN_LIMIT, *, committed: bool = True
             ) -> tuple[list[BatchRun], int]:
        """FETCH's loop (wire spec §7.6): up to ``max_messages`` live, matching records from
        ``offset`` whose values fit ``max_bytes`` (at least one), examining at most
        ``scan_limit``; returns them as runs and the first offset not examined. Nothing
        readable at ``offset`` gives ``([], offset)``. ``committed`` (read-committed, the
        default) stops at the last stable offset and skips aborted transactional data;
        False reads up to the log end (read-uncommitted, for debugging). Transaction
        markers are never delivered."""
        log = self._opened()
        end = self.high_watermark if committed else log.end_offset
        if offset >= end or offset < log.start_offset:
            return [], offset
        found: list[BatchRun] = []
        taken = 0
        pos, budget = offset, scan_limit
        cutoff = None if predicate is None else _Cutoff()
        while pos < end and budget > 0 and taken < max_messages and max_bytes > 0:
            want = min(budget, end - pos)
            if predicate is None:
                want = min(want, max_messages - taken)
            try:
                runs = log.read_runs(pos, want, max_bytes)
            except OffsetOutOfRangeError:  # retention overtook the reader
                break
            except CorruptRecordError:
                if pos == offset:
                    raise
                break  # answer what was examined before the damage; the next fetch meets it
            examined = 0
            for batch, start, stop in runs:
                if (batch.control or batch.transactional) and \
                        self._hidden(batch, committed):
                    examined += stop - start
                    pos = batch.base + stop
                    continue
                spans = ((start, stop),) if batch.expire_at is None and predicate is None \
                    else _deliverable(batch, start, stop, predicate, now_ms, cutoff)
                for a, b in spans:
                    b = min(b, a + max_messages - taken)
                    sizes = batch.value_sizes[a:b]
                    size = sum(sizes)
                    full = size > max_bytes
                    if full:  # storage budgets whole batches; trim to records
                        b = a + _fitting(sizes, max_bytes, first=not found)
                        size = sum(sizes[:b - a])
                    if b > a:
                        found.append(BatchRun(batch, a, b))
                        taken += b - a
                        max_bytes -= size
                    if full or taken >= max_messages:
                        return found, batch.base + b
                if cutoff is not None and cutoff.at is not None:
                    return found, batch.base + cutoff.at
                examined += stop - start
                pos = batch.base + stop
            budget -= examined
            if not examined:
                break
            if examined < want and predicate is None:  # the byte budget ended the read
                break  # (a filter's misses fill no reply: it reads on, up to the scan limit)
        return found, pos


    def _hidden(self, batch: DecodedBatch, committed: bool) -> bool:
        """Whether a transactional or control ``batch`` is kept from this reader: markers
        always, aborted data unless it reads uncommitted."""
        return self.txns.hides(batch) if committed else batch.control


#: The value of a commit / abort control record (Kafka's marker types: 0 abort, 1 commit).
TXN_ABORT_MARKER = Record(b"\x00\x00\x00\x00", key=b"\x00\x00\x00\x00")
TXN_COMMIT_MARKER = Record(b"\x00\x00\x00\x00", key=b"\x00\x00\x00\x01")


def is_live(batch: DecodedBatch, i: int, now_ms: int) -> bool:
    """Whether record ``i`` of ``batch`` may still be delivered (its TTL has not passed)."""
    if batch.expire_at is None:
        return True
    expire_at = batch.expire_at[i]
    return expire_at is None or expire_at > now_ms


class _Cutoff:
    """When a filtered scan stops examining records: :data:`FILTER_TIME_BUDGET_S` after it
    began, once it has examined one. A filter that is costly on these values (a huge regex)
    then answers with what it found so far, and the next fetch goes on from there, instead
    of holding a broker thread for the whole scan."""

    __slots__ = ("deadline", "examined", "at")

    def __init__(self) -> None:
        self.deadline = time.monotonic() + FILTER_TIME_BUDGET_S
        self.examined = False
        self.at: int | None = None   # batch-relative index of the first record not examined

    def reached(self) -> bool:
        return self.examined and time.monotonic() > self.deadline


def _deliverable(batch: DecodedBatch, start: int, stop: int, predicate: Predicate | None,
                 now_ms: int, cutoff: _Cutoff | None = None) -> Iterator[tuple[int, int]]:
    """Spans ``[a, b)`` of records ``start .. stop`` of ``batch`` that are live and match,
    in order; evaluated lazily, so a caller that stops early examines no further. When
    ``cutoff`` is reached the spans end there, and ``cutoff.at`` says where."""
    keys, values = batch.keys, batch.values
    first = None
    for i in range(start, stop):
        if cutoff is not None:
            if cutoff.reached():
                cutoff.at = stop = i
                break
            cutoff.examined = True
        ok = is_live(batch, i, now_ms) and (
            predicate is None or predicate(None if keys is None else keys[i], values[i]))
        if ok and first is None:
            first = i
        elif not ok and first is not None:
            yield first, i
            first = None
    if first is not None:
        yield first, stop


def _fitting(sizes: tuple[int, ...], max_bytes: int, *, first: bool) -> int:
    """How many leading records fit ``max_bytes`` (at least one when ``first``, so a reader
    never stalls on a record larger than its budget)."""
    fit = bisect.bisect_right(list(accumulate(sizes)), max_bytes)
    return max(fit, 1) if first else fit


def _nothing() -> None:
    """Cancel function of a watch that already fired."""
