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
import operator
import sys
import threading
import time
from collections import deque
from itertools import repeat
from typing import TYPE_CHECKING, Callable, Optional, TypeVar

from flymq.errors import ConnectionError, NotLeaderError, TimeoutError, TopicNotFoundError
from flymq.keyhash import key_partition
from flymq.models import RecordMetadata
from flymq.wire_limits import MAX_FRAME_PAYLOAD

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

_UNKNOWN = object()                     # producer identity not asked for yet
_T = TypeVar("_T")
_key_of = operator.itemgetter(0)
_value_of = operator.itemgetter(1)
_partition_of = operator.itemgetter(2)


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

    Stored as columns so that the common record (keyless, no partition, no callback) costs
    one list append: ``keys`` and ``partitions`` exist only once some record of the batch has
    a key or names a partition (then they run parallel to ``values``), and ``sinks`` maps the
    index of each record that has a callback to it.
    """

    __slots__ = ("topic", "values", "keys", "partitions", "sinks", "size", "deadline", "done",
                 "timestamp", "placed", "error")

    def __init__(self, topic: str, deadline: float):
        self.topic = topic
        self.values: list[bytes] = []
        self.keys: list[bytes | None] | None = None
        self.partitions: list[int] | None = None
        self.sinks: dict[int, Sink] | None = None
        self.size = 0
        self.deadline = deadline
        self.done = threading.Event()
        self.timestamp = 0
        self.placed: list[tuple[int, int]] | None = None   # (partition, offset) once acked
        self.error: BaseException | None = None

    def add(self, key: bytes | None, value: bytes, partition: int, sink: Sink | None) -> int:
        """Append one record of any shape; returns its index."""
        index = len(self.values)
        self.values.append(value)
        if key is not None or self.keys is not None:
            if self.keys is None:
                self.keys = [None] * index
            self.keys.append(key)
        if partition != -1 or self.partitions is not None:
            if self.partitions is None:
                self.partitions = [-1] * index
            self.partitions.append(partition)
        if sink is not None:
            if self.sinks is None:
                self.sinks = {}
            self.sinks[index] = sink
        return index

    @property
    def plain(self) -> bool:
        """No record has a key or names a partition."""
        return self.keys is None and self.partitions is None

    @property
    def records(self) -> list[tuple[bytes | None, bytes, int]]:
        """``(key, value, partition)`` of every record, as the transports take them."""
        n = len(self.values)
        return list(zip(self.keys or repeat(None, n), self.values,
                        self.partitions or repeat(-1, n)))

    def meta(self, index: int) -> RecordMetadata:
        """The metadata of record ``index`` of an acknowledged batch (built on demand: most
        sends never look at it)."""
        key = self.keys[index] if self.keys is not None else None
        value = self.values[index]
        partition, offset = self.placed[index]
        return RecordMetadata(self.topic, partition, offset, self.timestamp,
                              len(key) if key else -1, len(value))


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
        self._compression = config.compression_type
        self._identity: tuple[int, int] | None | object = _UNKNOWN  # (producer id, epoch)
        self._partitions: dict[str, int] = {}          # partition counts, for routing
        self._sticky = itertools.count()               # partition of the next keyless request
        self._delivering = threading.Lock()            # numbered requests go one at a time
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)    # the sender waits here
        self._space = threading.Condition(self._lock)   # blocked appenders wait here
        self._open: dict[str, Batch] = {}
        self._ready: deque[Batch] = deque()
        self._in_flight: list[Batch] = []
        self._next_sequence: dict[tuple[str, int], int] = {}
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
            batch = self._batch_with_room(topic, size)
            index = batch.add(key, value, partition, sink)
            batch.size += size
            self._buffered_bytes += size
            self._buffered_records += 1
            if batch.size >= self._batch_size or index >= self._last_index:
                self._seal(batch)
        return batch, index

    def append_value(self, topic: str, value: bytes) -> None:
        """:meth:`append` of a keyless record with no partition and no callback (the hot
        path of ``send(bytes)``): the same accounting and sealing, fewer steps."""
        size = len(value)
        with self._lock:
            batch = self._batch_with_room(topic, size)
            values = batch.values
            values.append(value)
            if batch.keys is not None:
                batch.keys.append(None)
            if batch.partitions is not None:
                batch.partitions.append(-1)
            batch.size += size
            self._buffered_bytes += size
            self._buffered_records += 1
            if batch.size >= self._batch_size or len(values) > self._last_index:
                self._seal(batch)

    def _batch_with_room(self, topic: str, size: int) -> Batch:
        """The open batch of ``topic`` that takes ``size`` more bytes, once the buffer has
        room for them (waits up to max_block_ms); called under the lock."""
        if (self._buffered_bytes + size > self._buffer_memory
                or self._buffered_records >= self._max_records):
            self._wait_for_space(size)
        batch = self._open.get(topic)
        if batch is None or (size > self._room and batch.size + size > MAX_REQUEST_BYTES):
            batch = self._open_batch(topic)
        return batch

    def send_now(self, topic: str, key: bytes | None, value: bytes, partition: int,
                 sink: Sink | None = None) -> Batch:
        """Deliver one record in this thread, with retries; the error (if any) is on the batch."""
        batch = Batch(topic, 0.0)
        batch.add(key, value, partition, sink)
        batch.size = len(value) + len(key or b"")
        with self._lock:
            self._buffered_bytes += batch.size
            self._buffered_records += 1
            self._counts["in_flight"] += 1
        self._deliver([batch], report=False)
        return batch

    def _open_batch(self, topic: str) -> Batch:
        if topic in self._open:
            self._seal(self._open[topic])
        batch = self._open[topic] = Batch(topic, time.monotonic() + self._linger_s)
        if self._thread is None:
            self._start_sender()
        self._wake.notify()  # the sender recomputes its linger deadline
        return batch

    def _start_sender(self) -> None:
        self._thread = threading.Thread(target=self._run, name="flymq-producer-sender",
                                        daemon=True)
        self._thread.start()

    def _seal(self, batch: Batch) -> None:
        del self._open[batch.topic]
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
        group, size, count = [head], head.size, len(head.values)
        for batch in [b for b in self._ready if b.topic == head.topic]:
            size += batch.size
            count += len(batch.values)
            if size > COALESCE_BYTES or count > COALESCE_RECORDS:
                break
            self._ready.remove(batch)
            group.append(batch)
        self._in_flight.extend(group)
        self._counts["in_flight"] += sum(len(b.values) for b in group)
        return group

    def _deliver(self, group: list[Batch], *, report: bool) -> None:
        """Send the records of ``group`` (one topic) and complete its batches."""
        topic = group[0].topic
        records = group[0].records if len(group) == 1 else [r for b in group for r in b.records]
        self._count(sent=len(records), bytes=sum(b.size for b in group))
        try:
            result, error = self._send(topic, records), None
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the records
            result, error = None, exc
        self._complete(group, result, error, report)

    def _send(self, topic: str, records: list[tuple[bytes | None, bytes, int]]
              ) -> tuple[int, list[tuple[int, int]]]:
        """``(timestamp, placed)`` of ``records``: one request, or, when the broker
        deduplicates, one numbered request per partition (sent one at a time, in order)."""
        identity = self._retrying(self._producer_identity, topic, 0)
        routes = None if identity is None else self._retrying(
            lambda: self._routes(topic, records), topic, 0)
        if routes is None:
            return self._attempt(topic, records, None)
        with self._delivering:
            try:
                if len(routes) == 1:  # the common case: no scattering of results
                    partition, _ = routes[0]
                    return self._attempt(topic, records, self._numbered(identity, topic,
                                                                        partition, records))
                placed: list[tuple[int, int]] = [(-1, -1)] * len(records)
                timestamp = 0
                for partition, indices in routes:
                    part = [records[i] for i in indices]
                    timestamp, results = self._attempt(
                        topic, part, self._numbered(identity, topic, partition, part))
                    for i, result in zip(indices, results):
                        placed[i] = result
                return timestamp, placed
            except Exception:
                self._identity = _UNKNOWN   # a numbered request failed: a new producer session
                self._next_sequence.clear()
                raise

    def _attempt(self, topic: str, records: list[tuple[bytes | None, bytes, int]],
                 producer: tuple[int, int, int] | None) -> tuple[int, list[tuple[int, int]]]:
        """One ``append_batch`` with retries (the same request each time, so the broker can
        tell a retry from a new batch)."""
        return self._retrying(lambda: self._client.append_batch(
            topic, records, producer=producer, compression_type=self._compression),
            topic, len(records))

    def _retrying(self, call: Callable[[], _T], topic: str, records: int) -> _T:
        """``call()``, called again with backoff after retriable errors."""
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:  # noqa: BLE001
                if attempt >= self._retries or not is_retriable(exc) or self._client.closed:
                    raise
                attempt += 1
                self._count(retried=records)
                log.debug("retrying %d records to %r (attempt %d): %s", records, topic,
                          attempt + 1, exc)
                time.sleep(min(self._backoff_s * 2 ** (attempt - 1), _MAX_BACKOFF_S))

    def _producer_identity(self) -> tuple[int, int] | None:
        """``(producer_id, epoch)`` from the broker, asked once per session; None when the
        broker cannot deduplicate (at-least-once)."""
        if self._identity is _UNKNOWN:
            self._identity = self._client.init_producer_id()
        return self._identity  # type: ignore[return-value]

    def _routes(self, topic: str, records: list[tuple[bytes | None, bytes, int]]
                ) -> list[tuple[int, list[int]]] | None:
        """The partition of every record, as ``[(partition, record indices)]``: explicit
        partitions as given, keys by the broker's hash, keyless records of one request all to
        one partition (the next, round-robin). None while the topic does not exist yet (that
        request creates it and goes unnumbered)."""
        count = self._partitions.get(topic)
        if count is None:
            try:
                count = self._partitions[topic] = self._client.partition_count(topic)
            except TopicNotFoundError:
                return None
        if not count:
            return None
        sticky = next(self._sticky) % count
        if not any(map(_key_of, records)) and max(map(_partition_of, records)) < 0:
            return [(sticky, list(range(len(records))))]
        routes: dict[int, list[int]] = {}
        for i, (key, _, partition) in enumerate(records):
            if partition < 0:
                partition = key_partition(key, count) if key else sticky
            routes.setdefault(partition, []).append(i)
        return list(routes.items())

    def _numbered(self, identity: tuple[int, int], topic: str, partition: int,
                  records: list[tuple[bytes | None, bytes, int]]) -> tuple[int, int, int]:
        """``(producer_id, epoch, base_sequence)`` for the next request to ``partition``, whose
        records are set to name that partition (in place: a retry resends the same list)."""
        records[:] = zip(map(_key_of, records), map(_value_of, records), repeat(partition))
        key = (topic, partition)
        sequence = self._next_sequence.get(key, 0)
        self._next_sequence[key] = sequence + len(records)
        return identity[0], identity[1], sequence

    def _complete(self, group: list[Batch], result: tuple[int, list[tuple[int, int]]] | None,
                  error: BaseException | None, report: bool) -> None:
        start = 0
        for batch in group:
            end = start + len(batch.values)
            if result is not None:
                batch.timestamp = result[0]
                batch.placed = result[1] if len(group) == 1 else result[1][start:end]
            batch.error = error
            start = end
            if batch.sinks:
                for index, sink in batch.sinks.items():
                    notify(sink, None if error else batch.meta(index), error)
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
                left = sum(len(b.values) for b in pending if not b.done.is_set())
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
