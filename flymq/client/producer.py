"""The producers: three fronts on one :class:`~flymq.client.batching.BatchEngine`.

- :class:`Producer` (client-api §7): ``send`` returns a ``ProduceResult`` at ``linger_ms=0``,
  queues otherwise; delivery errors reach callbacks *and* ``flush()``/``close()``.
- :class:`AsyncProducer` (§7): ``send`` returns an awaitable future resolving to the
  ``RecordMetadata``; a background thread sends, the event loop only awaits.
- :class:`HighLevelProducer` (§4, ``client.producer()``): ``send`` never raises for delivery
  failures and returns a :class:`ProduceFuture`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Generator, Self

from flymq.checks import check_partition
from flymq.client.batching import Batch, BatchEngine, Sink, notify
from flymq.client.client import _as_bytes
from flymq.client.config import ProducerConfig
from flymq.errors import FlyMQError, TimeoutError
from flymq.models import ProduceResult, RecordMetadata

if TYPE_CHECKING:
    from flymq.client.client import FlyMQClient

__all__ = ["Producer", "AsyncProducer", "HighLevelProducer", "ProduceFuture", "SendFuture"]

ResultCallback = Callable[["ProduceResult | None", "BaseException | None"], None]

_MISSING: Any = object()
_FAST_VALUE = 1 << 20  # bytes values below this skip the client-side frame-size check


def _topic_and_data(topic: Any, data: Any, default: str | None) -> tuple[str, Any]:
    """``send(data)`` uses the default topic, ``send(topic, data)`` names one."""
    if data is _MISSING:
        if topic is _MISSING:
            raise TypeError("send() missing required argument: 'data'")
        topic, data = _MISSING, topic
    if topic is _MISSING:
        if default is None:
            raise TypeError("send() missing required argument: 'data' (this producer has no "
                            "default topic, so call send(topic, data))")
        topic = default
    return topic, data


def _record(client: "FlyMQClient", topic: str, data: Any, key: Any,
            partition: int | None) -> tuple[bytes | None, bytes, int]:
    """``(key, value, partition)`` as the transport wants them; plain bytes take a fast path."""
    if key is None and data.__class__ is bytes and len(data) < _FAST_VALUE:
        key_bytes, value = None, data
    else:
        key_bytes = _as_bytes(key)
        value = client._checked_value(topic, data, key_bytes)
    return key_bytes, value, -1 if partition is None else check_partition(partition, produce=True)


def _to_result(meta: RecordMetadata) -> ProduceResult:
    stamp = datetime.fromtimestamp(meta.timestamp / 1000.0) if meta.timestamp else datetime.now()
    return ProduceResult(meta.topic, meta.offset, meta.partition, stamp)


def _result_sink(callback: ResultCallback) -> Sink:
    return lambda meta, error: callback(None if meta is None else _to_result(meta), error)


def _failed_batch(topic: str, error: BaseException) -> Batch:
    batch = Batch(topic, 0.0)
    batch.error = error
    batch.done.set()
    return batch


class _EngineFront:
    """What Producer and HighLevelProducer share: a batching engine they close."""

    _engine: BatchEngine
    _closed: bool

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def metrics(self) -> dict[str, int]:
        """Counters of the engine: sent, acked, failed, retried, bytes, in_flight, queued."""
        return self._engine.metrics

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class Producer(_EngineFront):
    """Batching producer with an optional default topic (seed: ``Producer(client, "t")``)."""

    def __init__(self, client: "FlyMQClient", topic: str | None = None, *,
                 config: ProducerConfig | None = None):
        self.client = client
        self.topic = topic
        self.config = config if config is not None else ProducerConfig()
        self._engine = BatchEngine(client, self.config)
        self._sync = self.config.linger_ms == 0
        self._queue_plain = not self._sync and topic is not None
        self._closed = False

    def send(self, topic: Any = _MISSING, data: Any = _MISSING, *, key: Any = None,
             partition: int | None = None,
             callback: ResultCallback | None = None) -> ProduceResult | None:
        """Produce now (``linger_ms=0``: returns the result, raises on failure) or queue."""
        if self._closed:
            raise RuntimeError("Producer is closed")
        if (data is _MISSING and topic.__class__ is bytes and self._queue_plain
                and key is None and partition is None and callback is None
                and len(topic) < _FAST_VALUE):  # the hot path: send(bytes) to the default topic
            self._engine.append_value(self.topic, topic)
            return None
        topic, data = _topic_and_data(topic, data, self.topic)
        sink = None if callback is None else _result_sink(callback)
        try:
            key_bytes, value, part = _record(self.client, topic, data, key, partition)
        except FlyMQError as exc:
            if sink is not None:
                notify(sink, None, exc)
            raise
        if self._sync:
            batch = self._engine.send_now(topic, key_bytes, value, part, sink)
            if batch.error is not None:
                raise batch.error
            return _to_result(batch.meta(0))
        self._engine.append(topic, key_bytes, value, part, sink)
        return None

    def flush(self, timeout_ms: int = 10000) -> None:
        """Wait until every queued record is acknowledged; raise the first delivery error."""
        error = self._engine.flush(timeout_ms)
        if error is not None:
            raise error

    def close(self, timeout_ms: int = 10000) -> None:
        """Flush, then refuse further sends; idempotent."""
        if self._closed:
            return
        self._closed = True
        error = self._engine.stop(timeout_ms)
        if error is not None:
            raise error


class SendFuture(concurrent.futures.Future):
    """A ``concurrent.futures.Future`` that asyncio code can also ``await``."""

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.wrap_future(self).__await__()


def _future_sink(future: SendFuture, callback: ResultCallback | None) -> Sink:
    def complete(meta: RecordMetadata | None, error: BaseException | None) -> None:
        if future.set_running_or_notify_cancel():
            if error is None:
                future.set_result(meta)
            else:
                future.set_exception(error)
        if callback is not None:
            callback(None if meta is None else _to_result(meta), error)

    return complete


class AsyncProducer:
    """Producer whose ``send`` never waits for the broker: a background sender delivers.

    ``send`` returns a :class:`SendFuture` resolving to the record's ``RecordMetadata`` (an
    int equal to the offset, with ``topic``, ``partition`` and ``offset``); callbacks get a
    ``ProduceResult`` as upstream. Blocks only while ``queue_size`` records or
    ``buffer_memory`` bytes are unacknowledged.
    """

    def __init__(self, client: "FlyMQClient", topic: str | None = None, *,
                 config: ProducerConfig | None = None, queue_size: int = 10000):
        self.client = client
        self.topic = topic
        self.config = config if config is not None else ProducerConfig()
        self._engine = BatchEngine(client, self.config, max_records=max(1, queue_size))
        self._state = "new"

    @property
    def running(self) -> bool:
        return self._state == "running"

    def start(self) -> None:
        """Accept sends (the sender thread starts with the first one); idempotent."""
        self._state = "running"

    def stop(self, timeout: float = 10.0) -> None:
        """Deliver everything queued and stop the sender; idempotent. Errors stay on futures."""
        was_running, self._state = self._state == "running", "stopped"
        if was_running:
            self._engine.stop(timeout * 1000.0)

    def close(self) -> SendFuture:
        """``stop()`` now; the returned completed future lets ``await producer.close()`` work."""
        self.stop()
        done = SendFuture()
        done.set_result(None)
        return done

    def send(self, topic: Any = _MISSING, data: Any = _MISSING, *, key: Any = None,
             partition: int | None = None, callback: ResultCallback | None = None) -> SendFuture:
        """Queue one record (starting the producer on first use); never waits for the broker."""
        if self._state != "running":
            if self._state == "stopped":
                raise RuntimeError("Producer is not running")
            self.start()
        topic, data = _topic_and_data(topic, data, self.topic)
        future = SendFuture()
        sink = _future_sink(future, callback)
        try:
            key_bytes, value, part = _record(self.client, topic, data, key, partition)
        except FlyMQError as exc:
            notify(sink, None, exc)
            return future
        self._engine.append(topic, key_bytes, value, part, sink)
        return future

    def flush(self, timeout_ms: int = 10000) -> None:
        """[ext] Wait for everything queued; raise the first delivery error since last flush."""
        error = self._engine.flush(timeout_ms)
        if error is not None:
            raise error

    @property
    def metrics(self) -> dict[str, int]:
        return self._engine.metrics

    def __enter__(self) -> "AsyncProducer":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    async def __aenter__(self) -> "AsyncProducer":
        self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)


class ProduceFuture:
    """Completion handle of one ``HighLevelProducer.send``; a view on the record's batch."""

    __slots__ = ("_batch", "_index")

    def __init__(self, batch: Batch, index: int = 0):
        self._batch = batch
        self._index = index

    def get(self, timeout_ms: int = 30000) -> RecordMetadata:
        """The record's metadata; raises the send error, or ``TimeoutError`` when not done."""
        batch = self._batch
        if not batch.done.wait(timeout_ms / 1000.0):
            raise TimeoutError("Produce operation timed out")
        if batch.error is not None:
            raise batch.error
        return batch.meta(self._index)

    def done(self) -> bool:
        return self._batch.done.is_set()

    def succeeded(self) -> bool:
        return self._batch.done.is_set() and self._batch.error is None

    @property
    def error(self) -> BaseException | None:
        return self._batch.error if self._batch.done.is_set() else None

    def __repr__(self) -> str:
        state = ("pending" if not self.done() else
                 f"failed: {self.error!r}" if self.error else f"offset {self.get(0)}")
        return f"<ProduceFuture {state}>"


def _callback_sink(on_success: Callable[[RecordMetadata], Any] | None,
                   on_error: Callable[[BaseException], Any] | None) -> Sink:
    def complete(meta: RecordMetadata | None, error: BaseException | None) -> None:
        if error is None:
            if on_success is not None:
                on_success(meta)
        elif on_error is not None:
            on_error(error)

    return complete


class HighLevelProducer(_EngineFront):
    """``client.producer(...)``: sends never raise for delivery failures (§4)."""

    def __init__(self, client: "FlyMQClient", *, batch_size: int = 16384, linger_ms: int = 0,
                 max_batch_messages: int = 1000, acks: str = "leader", retries: int = 3,
                 retry_backoff_ms: int = 100, compression_type: str = "none",
                 buffer_memory: int = 32 * 1024 * 1024, max_block_ms: int = 60000):
        self.client = client
        self.config = ProducerConfig(
            batch_size=batch_size, linger_ms=linger_ms, max_batch_messages=max_batch_messages,
            acks=acks, retries=retries, retry_backoff_ms=retry_backoff_ms,
            compression_type=compression_type, buffer_memory=buffer_memory,
            max_block_ms=max_block_ms)
        self._engine = BatchEngine(client, self.config)
        self._sync = linger_ms == 0
        self._closed = False

    def send(self, topic: str, value: Any, *, key: Any = None, partition: int | None = None,
             on_success: Callable[[RecordMetadata], Any] | None = None,
             on_error: Callable[[BaseException], Any] | None = None) -> ProduceFuture:
        """Produce (``linger_ms=0``) or queue one record; the outcome is on the future."""
        if self._closed:
            raise RuntimeError("Producer is closed")
        sink = None if on_success is None and on_error is None else _callback_sink(
            on_success, on_error)
        try:
            key_bytes, data, part = _record(self.client, topic, value, key, partition)
        except FlyMQError as exc:
            if sink is not None:
                notify(sink, None, exc)
            return ProduceFuture(_failed_batch(topic, exc))
        if self._sync:
            return ProduceFuture(self._engine.send_now(topic, key_bytes, data, part, sink))
        return ProduceFuture(*self._engine.append(topic, key_bytes, data, part, sink))

    def flush(self, timeout_ms: int = 30000) -> None:
        """Send everything queued and wait for it (outcomes are on the futures)."""
        self._engine.flush(timeout_ms)

    def close(self, timeout_ms: int = 30000) -> None:
        """Flush, stop the sender, refuse further sends; idempotent."""
        if not self._closed:
            self._closed = True
            self._engine.stop(timeout_ms)
