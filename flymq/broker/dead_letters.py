"""Dead-letter queues: where records go that consumers could not process, and back.

The DLQ of topic ``T`` is the ordinary topic ``T.dlq`` holding JSON entries
(:mod:`flymq.dead_letter_records`). :meth:`DeadLetters.route` writes one from the stored
source record (so the entry holds its exact key, headers and TTL); fetch reads from any
offset; replay and re-inject append the original back to ``T`` and then remove the entry: a
log cannot delete one record, so the removed offsets are kept in a :class:`StateLog` and
skipped by every read (``docs/dead-letters.md``: a deliberate deviation from upstream, which
leaves replayed entries in place). Replay is at-least-once: a crash between the append and the
removal leaves the entry to be replayed again.
"""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from flymq.broker.appends import AppendRequest
from flymq.broker.messages import decode_headers
from flymq.broker.statelog import LazyStateLog
from flymq.checks import I32_MAX, check_int, check_partition
from flymq.dead_letter_records import REASONS, decode_entry, dlq_topic, encode_entry, entry_id, \
    to_message
from flymq.errors import DeadLetterNotFoundError, InvalidRequestError, TopicNotFoundError
from flymq.models import DLQMessage

if TYPE_CHECKING:
    from flymq.broker.broker import Broker
    from flymq.broker.storage import Flusher, LogConfig

_REMOVED = b"R"   # topic len H + topic + offset q*: entries replayed out of the DLQ
_PURGED = b"P"    # topic: the DLQ was deleted (its removed offsets are void)
_OFFSET = struct.Struct(">q")
_SCAN = 1000      # DLQ records read per step


def _removed_record(topic: str, offsets: list[int]) -> bytes:
    t = topic.encode()
    return _REMOVED + struct.pack(">H", len(t)) + t + b"".join(map(_OFFSET.pack, offsets))


class DeadLetters:
    """The broker's DLQ operations (module docstring); thread-safe."""

    def __init__(self, broker: "Broker", directory: Path, log_config: "LogConfig", *,
                 flusher: "Flusher | None"):
        self._broker = broker
        self._lock = threading.Lock()
        self._removed: dict[str, set[int]] = {}   # DLQ topic -> offsets replayed out of it
        self._state = LazyStateLog(directory, name="__dlq_removed/0", log_config=log_config,
                                   clock=broker.clock, flusher=flusher)
        for change in self._state.replay():
            if change[:1] == _REMOVED:
                n = struct.unpack_from(">H", change, 1)[0]
                offsets = self._removed.setdefault(change[3:3 + n].decode(), set())
                offsets.update(o for (o,) in _OFFSET.iter_unpack(memoryview(change)[3 + n:]))
            elif change[:1] == _PURGED:
                self._removed.pop(change[1:].decode(), None)

    def close(self) -> None:
        with self._lock:
            self._state.close()

    # --- writing -----------------------------------------------------------------------------
    def route(self, topic: str, partition: int, offset: int, reason: str = "processing_error",
              error: str = "", retry_count: int = 0, first_failed_at: int | None = None) -> str:
        """Copy the record at (topic, partition, offset) into ``topic.dlq`` with why it
        failed; returns the entry id. OffsetOutOfRangeError when the record is gone (or its
        TTL passed: an expired record is not delivered anywhere, not even to the DLQ)."""
        if reason not in REASONS:
            raise InvalidRequestError(f"invalid dead-letter reason: {reason!r}",
                                      hint=f"Use one of {', '.join(REASONS)}.")
        partition = check_partition(partition)
        offset = check_int("offset", offset)
        retry_count = check_int("retry_count", retry_count, 0, I32_MAX)
        broker = self._broker
        now = broker.clock.now_ms()
        batch, i, _ = broker.partition_leader(topic, partition).record_at(offset, now)
        headers = batch.headers[i] if batch.headers is not None else ()
        key = batch.keys[i] if batch.keys is not None else None
        entry = encode_entry(
            id=entry_id(topic, offset, time.time_ns()), topic=topic, partition=partition,
            offset=offset, key=key, value=batch.values[i],
            headers=decode_headers(headers) if headers else None, reason=reason, error=error,
            retry_count=retry_count, first_failed_at=first_failed_at or now, last_failed_at=now,
            expire_at=batch.expire_at[i] if batch.expire_at is not None else None)
        broker.append(AppendRequest(dlq_topic(topic), ((None, entry, 0),)))
        return decode_entry(entry)["id"]

    # --- reading -----------------------------------------------------------------------------
    def _check_exists(self, topic: str) -> None:
        names = self._broker.list_topics(include_internal=True)
        if topic not in names and dlq_topic(topic) not in names:
            raise TopicNotFoundError(topic, hint=f"Neither {topic!r} nor its dead-letter "
                                     f"queue {dlq_topic(topic)!r} exists; check the name.")

    def _entries(self, topic: str, offset: int = 0) -> Iterator[tuple[int, dict]]:
        """(DLQ offset, entry) of the entries still in ``topic``'s DLQ from ``offset``."""
        dlq = dlq_topic(topic)
        try:
            leader = self._broker.partition_leader(dlq, 0)
        except TopicNotFoundError:
            return
        removed = self._removed.get(dlq, ())
        position = max(offset, leader.offsets()[0])
        while True:
            runs, after = self._broker.fetch_runs(dlq, 0, position, _SCAN)
            for batch, start, stop in runs:
                for i in range(start, stop):
                    at = batch.base + i
                    if at not in removed and (doc := decode_entry(batch.values[i])) is not None:
                        yield at, doc
            if after == position:  # the end of the DLQ
                return
            position = after

    def fetch(self, topic: str, max_messages: int = 10, offset: int = 0) -> list[DLQMessage]:
        """Up to ``max_messages`` entries of ``topic``'s DLQ from DLQ offset ``offset`` (an
        empty list when it has none); TopicNotFoundError when neither exists."""
        max_messages = check_int("max_messages", max_messages, -I32_MAX - 1, I32_MAX)
        offset = check_int("offset", offset)
        self._check_exists(topic)
        if max_messages <= 0:
            max_messages = 10
        found = []
        for at, doc in self._entries(topic, offset):
            found.append(to_message(doc, at))
            if len(found) >= max_messages:
                break
        return found

    # --- replay --------------------------------------------------------------------------------
    def replay(self, topic: str, message_id: str) -> None:
        """Append the entry ``message_id`` back to its topic, then remove it from the DLQ;
        DeadLetterNotFoundError when the DLQ has no such entry (any more)."""
        self._check_exists(topic)
        with self._lock:
            for at, doc in self._entries(topic):
                if doc["id"] == message_id:
                    return self._replay(topic, at, doc)
        raise DeadLetterNotFoundError(topic, "")

    def re_inject(self, topic: str, offset: int) -> None:
        """:meth:`replay` of the entry at DLQ offset ``offset``."""
        offset = check_int("offset", offset)
        self._check_exists(topic)
        with self._lock:
            for at, doc in self._entries(topic, offset):
                if at == offset:
                    return self._replay(topic, at, doc)
                break
        raise DeadLetterNotFoundError(topic, f" at offset {offset}")

    def _replay(self, topic: str, at: int, doc: dict) -> None:
        """Append (under the lock) with the original key, headers and expiry, then remove."""
        target = str(doc.get("original_topic") or topic)
        self._broker.append(AppendRequest(
            target, ((doc["key"], doc["payload"], -1, doc["headers"] or None, None),),
            expire_at=doc.get("expire_at") if isinstance(doc.get("expire_at"), int) else None))
        dlq = dlq_topic(topic)
        self._state.append(_removed_record(dlq, [at]))
        self._removed.setdefault(dlq, set()).add(at)
        self._state.compact_if_due(self._snapshot)

    def purge(self, topic: str) -> None:
        """Delete ``topic``'s DLQ (nothing to do when it has none)."""
        self._check_exists(topic)
        dlq = dlq_topic(topic)
        with self._lock:
            self._broker.delete_topic(dlq)
            if dlq in self._removed:
                self._state.append(_PURGED + dlq.encode())
                del self._removed[dlq]
                self._state.compact_if_due(self._snapshot)

    def _snapshot(self) -> Iterator[bytes]:
        for dlq, offsets in self._removed.items():
            ordered = sorted(offsets)
            for i in range(0, len(ordered), 4096):
                yield _removed_record(dlq, ordered[i:i + 4096])
