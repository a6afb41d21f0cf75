"""The batching engine behind every producer: an accumulator and one sender.

``Producer``, ``AsyncProducer`` and ``HighLevelProducer`` are thin fronts on
:class:`BatchEngine`, so batching, retries, ordering, memory bounds and metrics behave the
same whichever one an application picks (see ``docs/producers.md``).

Ordering: the route is the topic. Records are appended to one open batch per topic; sealed
batches wait in one FIFO queue; one sender delivers them one request at a time and retries a
request before it takes the next one. Records of one topic therefore reach the broker in
``send`` order, through batching and retries, and so do records of one key.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable, Optional

from flymq.errors import (
    MAX_FRAME_PAYLOAD, ConnectionError, NotLeaderError, TimeoutError,
)
from flymq.models import RecordMetadata

if TYPE_CHECKING:
    from flymq.client.client import FlyMQClient
    from flymq.client.config import ProducerConfig

__all__ = ["Batch", "BatchEngine", "Sink", "is_retriable", "notify"]

log = logging.getLogger("flymq.producer")

#: Called once per record when its batch completes: ``(metadata, None)`` or ``(None, error)``.
Sink = Callable[[Optional[RecordMetadata], Optional[BaseException]], None]

#: A request never grows past this many key + value bytes, so it always fits one frame.
MAX_REQUEST_BYTES = MAX_FRAME_PAYLOAD // 2
#: Ready batches of one topic are merged into one request up to these many bytes / records.
COALESCE_BYTES = 1 << 20
COALESCE_RECORDS = 10_000
_MAX_BACKOFF_S = 10.0

#: Errors worth sending the same batch again for: the request may not have reached the
#: leader. Anything else (bad name, missing topic, too large, invalid request) fails at once.
RETRIABLE = (ConnectionError, TimeoutError, NotLeaderError)


def is_retriable(exc: BaseException) -> bool:
    return isinstance(exc, RETRIABLE)


def notify(sink: Sink, meta: RecordMetadata | None, error: BaseException | None) -> None:
    """Call ``sink``; what it raises is logged, never taken for a failure of the send."""
    try:
        sink(meta, error)
    except Exception:  # noqa: BLE001
        log.exception("producer callback raised; the send itself %s",
                      "failed" if error else "succeeded")


class Batch:
    """Records of one topic sent together; completion state is shared by its records.

    ``producer_id`` and ``base_sequence`` identify the batch for broker-side deduplication
    (planned, see docs/producers.md): records of a topic are numbered contiguously in seal
    order, and a retry resends the same numbers.
    """

    __slots__ = ("topic", "records", "sinks", "size", "deadline", "producer_id",
                 "base_sequence", "done", "metas", "error")

    def __init__(self, topic: str, producer_id: int, deadline: float):
        self.topic = topic
        self.records: list[tuple[bytes | None, bytes, int]] = []
        self.sinks: list[Sink | None] = []
        self.size = 0
        self.deadline = deadline
        self.producer_id = producer_id
        self.base_sequence = -1
        self.done = threading.Event()
        self.metas: list[RecordMetadata] | None = None
        self.error: BaseException | None = None


class BatchEngine:
    """Accumulates records into batches and delivers them through one client.

    ``append`` queues a record for the background sender (started on first use);
    ``send_now`` delivers a one-record batch in the caller's thread (``linger_ms=0``).
    """

    def __init__(self, client: "FlyMQClient", config: "ProducerConfig", *,
                 max_records: int | None = None):
        self._client = client
        self._batch_size = max(1, min(config.batch_size, MAX_REQUEST_BYTES))
        self._room = MAX_REQUEST_BYTES - self._batch_size  # free in any open batch
        self._last_index = max(1, config.max_batch_messages) - 1
        self._linger_s = config.linger_ms / 1000.0
        self._retries = config.retries
        self._backoff_s = config.retry_backoff_ms / 1000.0
        self._buffer_memory = config.buffer_memory
        self._max_block_s = config.max_block_ms / 1000.0
        self._max_records = sys.maxsize if max_records is None else max_records
        self.producer_id = int.from_bytes(os.urandom(8), "big") >> 1
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)    # the sender waits here
        self._space = threading.Condition(self._lock)   # blocked appenders wait here
        self._open: dict[str, Batch] = {}
        self._ready: deque[Batch] = deque()
        self._in_flight: list[Batch] = []
        self._next_sequence: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._first_error: BaseException | None = None
        self._buffered_bytes = 0
        self._buffered_records = 0
        self._counts = dict.fromkeys(("sent", "acked", "failed", "retried", "bytes",
                                      "in_flight", "batches"), 0)

    # --- intake ---------------------------------------------------------------------------
    def append(self, topic: str, key: bytes | None, value: bytes, partition: int,
               sink: Sink | None = None) -> tuple[Batch, int]:
        """Queue one record; returns its batch and index. Blocks while the buffer is full."""
        size = len(value) if key is None else len(value) + len(key)
        with self._lock:
            if (self._buffered_bytes + size > self._buffer_memory
                    or self._buffered_records >= self._max_records):
                self._wait_for_space(size)
            batch = self._open.get(topic)
            if batch is None or (size > self._room and batch.size + size > MAX_REQUEST_BYTES):
                batch = self._open_batch(topic)
            records = batch.records
            index = len(records)
            records.append((key, value, partition))
            batch.sinks.append(sink)
            batch.size += size
            self._buffered_bytes += size
            self._buffered_records += 1
            if batch.size >= self._batch_size or index >= self._last_index:
                self._seal(batch)
        return batch, index

    def send_now(self, topic: str, key: bytes | None, value: bytes, partition: int,
                 sink: Sink | None = None) -> Batch:
        """Deliver one record in this thread, with retries; the error (if any) is on the batch."""
        batch = Batch(topic, self.producer_id, 0.0)
        batch.records.append((key, value, partition))
        batch.sinks.append(sink)
        batch.size = len(value) + len(key or b"")
        with self._lock:
            self._number(batch)
            self._buffered_bytes += batch.size
            self._buffered_records += 1
            self._counts["in_flight"] += 1
        self._deliver([batch], report=False)
        return batch

    def _open_batch(self, topic: str) -> Batch:
        if topic in self._open:
            self._seal(self._open[topic])
        batch = self._open[topic] = Batch(topic, self.producer_id,
                                          time.monotonic() + self._linger_s)
        if self._thread is None:
            self._start_sender()
        self._wake.notify()  # the sender recomputes its linger deadline
        return batch

    def _start_sender(self) -> None:
        self._thread = threading.Thread(target=self._run, name="flymq-producer-sender",
                                        daemon=True)
        self._thread.start()

    def _number(self, batch: Batch) -> None:
        sequence = self._next_sequence.get(batch.topic, 0)
        batch.base_sequence = sequence
        self._next_sequence[batch.topic] = sequence + len(batch.records)

    def _seal(self, batch: Batch) -> None:
        del self._open[batch.topic]
        self._number(batch)
        self._ready.append(batch)
        self._wake.notify()

    def _seal_all(self) -> None:
        for batch in list(self._open.values()):
            self._seal(batch)

    def _wait_for_space(self, size: int) -> None:
        """Block (lock held) until the record fits; a record alone in the buffer always fits."""
        self._seal_all()
        deadline = time.monotonic() + self._max_block_s
        while self._buffered_records and (self._buffered_bytes + size > self._buffer_memory
                                          or self._buffered_records >= self._max_records):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"Producer buffer is full ({self._buffered_bytes} bytes in "
                    f"{self._buffered_records} records unacknowledged) and no space was freed "
                    f"within max_block_ms={round(self._max_block_s * 1000)}",
                    hint="The broker is slower than the senders: raise buffer_memory or "
                         "max_block_ms, or check that the broker is reachable.")
            self._space.wait(remaining)

    # --- sender ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._lock:
                group = self._take()
                while not group:
                    if self._stopping and not self._open and not self._ready:
                        return
                    self._wake.wait(self._idle_timeout())
                    group = self._take()
            self._deliver(group, report=True)

    def _idle_timeout(self) -> float | None:
        if not self._open:
            return None
        return max(0.0, min(b.deadline for b in self._open.values()) - time.monotonic())

    def _take(self) -> list[Batch]:
        """(lock held) The next request: the oldest ready batch plus later ones of its topic."""
        if self._open:
            now = time.monotonic()
            for batch in [b for b in self._open.values() if self._stopping or b.deadline <= now]:
                self._seal(batch)
        if not self._ready:
            return []
        head = self._ready.popleft()
        group, size, count = [head], head.size, len(head.records)
        for batch in [b for b in self._ready if b.topic == head.topic]:
            size += batch.size
            count += len(batch.records)
            if size > COALESCE_BYTES or count > COALESCE_RECORDS:
                break
            self._ready.remove(batch)
            group.append(batch)
        self._in_flight.extend(group)
        self._counts["in_flight"] += sum(len(b.records) for b in group)
        return group

    def _deliver(self, group: list[Batch], *, report: bool) -> None:
        """One ``produce_batch`` per attempt; retriable errors are retried with backoff."""
        topic = group[0].topic
        records = group[0].records if len(group) == 1 else [r for b in group for r in b.records]
        count = len(records)
        self._count(sent=count, bytes=sum(b.size for b in group))
        attempt = 0
        while True:
            try:
                metas, error = self._client._transport.produce_batch(topic, records), None
                break
            except Exception as exc:  # noqa: BLE001 - every failure is reported to the records
                if attempt >= self._retries or not is_retriable(exc) or self._client.closed:
                    metas, error = None, exc
                    break
                attempt += 1
                self._count(retried=count)
                log.debug("retrying %d records to %r (attempt %d): %s", count, topic,
                          attempt + 1, exc)
                time.sleep(min(self._backoff_s * 2 ** (attempt - 1), _MAX_BACKOFF_S))
        self._complete(group, metas, error, report)

    def _complete(self, group: list[Batch], metas: list[RecordMetadata] | None,
                  error: BaseException | None, report: bool) -> None:
        start = 0
        for batch in group:
            end = start + len(batch.records)
            batch.metas = None if metas is None else metas[start:end]
            batch.error = error
            start = end
            for sink, meta in zip(batch.sinks, batch.metas or itertools.repeat(None)):
                if sink is not None:
                    notify(sink, meta, error)
        with self._lock:
            count = start
            self._counts["in_flight"] -= count
            self._counts["failed" if error else "acked"] += count
            self._counts["batches"] += len(group)
            self._buffered_records -= count
            self._buffered_bytes -= sum(b.size for b in group)
            if report and error is not None and self._first_error is None:
                self._first_error = error
            for batch in group:
                if batch in self._in_flight:
                    self._in_flight.remove(batch)
                batch.done.set()
            self._space.notify_all()

    # --- flush, stop, metrics -------------------------------------------------------------
    def flush(self, timeout_ms: float) -> BaseException | None:
        """Send everything queued now and wait for it; returns (and forgets) the first
        delivery error of background sends since the last flush."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        with self._lock:
            self._seal_all()
            pending = list(self._ready) + self._in_flight
        for batch in pending:
            if not batch.done.wait(max(0.0, deadline - time.monotonic())):
                left = sum(len(b.records) for b in pending if not b.done.is_set())
                raise TimeoutError(f"Flush timed out after {timeout_ms} ms with {left} records "
                                   "not acknowledged",
                                   hint="The broker may be unreachable; retry flush() later.")
        with self._lock:
            error, self._first_error = self._first_error, None
        return error

    def stop(self, timeout_ms: float) -> BaseException | None:
        """Flush, then end the sender thread (a later ``append`` starts a new one)."""
        try:
            return self.flush(timeout_ms)
        finally:
            with self._lock:
                thread = self._thread
                self._stopping = True
                self._wake.notify()
            if thread is not None:
                thread.join(timeout_ms / 1000.0)
            with self._lock:
                self._stopping = False
                if thread is not None and not thread.is_alive():
                    self._thread = None
                    if self._open or self._ready:  # appended while the sender was exiting
                        self._start_sender()

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta

    @property
    def metrics(self) -> dict[str, int]:
        """Record counters: sent (first attempts), acked, failed, retried (re-sent records),
        bytes (key + value bytes sent), in_flight, queued; and batches completed."""
        with self._lock:
            counts = dict(self._counts)
            counts["queued"] = self._buffered_records - counts["in_flight"]
        return counts
