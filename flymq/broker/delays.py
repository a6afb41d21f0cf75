"""Delayed delivery: records that appear in their topic at a due time, exactly once, also when
the broker restarts or is killed before, at or after that time.

Where things are:

- the payloads (key, value, headers, and an envelope with the target topic, partition and due
  time) are records of the internal topic ``__delayed``, written through ``Broker.append``;
  a delayed message's id names its offset there (``dly-<offset>``);
- the index (due time, offset, topic) is a :class:`StateLog` under ``data_dir/delayed`` and,
  in memory, one sorted int per pending message: no payload stays in memory;
- one timer on ``broker.timers`` is armed for the earliest due time.

Releasing is exactly-once: a release first writes an *intent* (target partition, the
scheduler's producer id and the next sequence number for that partition) to the state log,
then appends the records as an idempotent producer batch, then marks the messages done. After
a crash, every intent without its done mark is appended again with the same sequence: the
partition leader answers a batch it already holds with its first offsets instead of
appending it twice (``flymq/broker/producers.py``).
"""

from __future__ import annotations

import logging
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from sortedcontainers import SortedList

from flymq.broker.appends import AppendRequest
from flymq.broker.messages import decode_headers
from flymq.broker.statelog import LazyStateLog
from flymq.checks import I64_MAX, check_int, check_partition
from flymq.errors import (BrokerClosedError, DelayedMessageNotFoundError, InvalidRequestError,
                          MessageTooLargeError, TopicNotFoundError)
from flymq.models import DelayedRecordMetadata
from flymq.timers import Timer
from flymq.topic_config import TopicConfig

if TYPE_CHECKING:
    from flymq.broker.broker import Broker
    from flymq.broker.storage import LogConfig, Flusher

log = logging.getLogger("flymq.delays")

DELAYED_TOPIC = "__delayed"
ID_PREFIX = "dly-"
RELEASE_CHUNK = 512
"""Messages released per step; the index lock is free between steps, so a burst of due
messages never holds up ``produce_delayed`` for long."""
RETRY_MS = 1000
"""A delivery that failed (its topic is gone and may not be auto-created) is retried this
much later, as upstream does."""
_FOREVER = 1 << 62  # retention of __delayed: the scheduler deletes what it delivered itself

_ENVELOPE = struct.Struct(">qiH")     # due_ms, partition (-1: chosen at delivery), topic length
_PAIR = struct.Struct(">qq")          # offset, due_ms
_OFFSET = struct.Struct(">q")
_INTENT = struct.Struct(">iiH")       # partition, base sequence, topic length
_SEQ = struct.Struct(">iiH")          # partition, next sequence, topic length
_SNAPSHOT_CHUNK = 4096
_READ_BYTES = 16 << 20  # payload bytes read at once when releasing

# State-log change records: one letter, then the fields.
_ADD = b"A"      # topic len H + topic + (offset, due)*: pending (a later A of an offset re-dues it)
_DONE = b"D"     # offset*: delivered or cancelled
_PLAN = b"I"     # _INTENT + topic + offset*: these go to (topic, partition) as batch `sequence`
_NEXT = b"S"     # _SEQ + topic: the next sequence for (topic, partition) (snapshots)
_PRODUCER = b"P" # producer id q: the scheduler's idempotent producer id
_MARK = b"W"     # offset q: every __delayed offset below it is indexed (snapshots)

# In-memory index key: due, then offset, then a topic number (for per-topic listing), in one
# int: a million pending messages cost one small int each in the SortedList (tuples would cost
# three objects each and sort four times slower).
_OFF_BITS, _TOPIC_BITS = 48, 24
_OFF_MASK, _TOPIC_MASK = (1 << _OFF_BITS) - 1, (1 << _TOPIC_BITS) - 1


def _key(due: int, offset: int, topic_no: int) -> int:
    return (((due << _OFF_BITS) | offset) << _TOPIC_BITS) | topic_no


def _unkey(key: int) -> tuple[int, int, int]:
    """(due, offset, topic number) of an index key."""
    return key >> (_OFF_BITS + _TOPIC_BITS), (key >> _TOPIC_BITS) & _OFF_MASK, key & _TOPIC_MASK


def go_duration(ms: int) -> str:
    """``ms`` as Go's ``time.Duration.String`` writes it (upstream's error texts use it)."""
    if ms == 0:
        return "0s"
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    if ms < 1000:
        return f"{sign}{ms}ms"
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, frac = divmod(rest, 1000)
    secs = f"{s}" + (f".{frac:03d}".rstrip("0") if frac else "") + "s"
    if h:
        return f"{sign}{h}h{m}m{secs}"
    return f"{sign}{m}m{secs}" if m else f"{sign}{secs}"


def check_delay(delay_ms: int, maximum: int) -> int:
    """``delay_ms`` if it is 1 ms .. ``maximum``; InvalidRequestError otherwise."""
    delay_ms = check_int("delay_ms", delay_ms, -I64_MAX - 1)
    if delay_ms > maximum:
        raise InvalidRequestError(
            f"delay {go_duration(delay_ms)} exceeds maximum allowed delay {go_duration(maximum)}",
            hint="Raise max_delay_ms in the broker configuration, or produce later.")
    if delay_ms < 1:
        raise InvalidRequestError(f"invalid delay_ms: {delay_ms} (must be 1 to {maximum})",
                                  hint="Use produce() for a record that is visible at once.")
    return delay_ms


def parse_id(delay_id: str) -> int:
    """The ``__delayed`` offset a delay id names; DelayedMessageNotFoundError if none."""
    text = str(delay_id)
    if text.startswith(ID_PREFIX) and text[len(ID_PREFIX):].isdigit():
        return int(text[len(ID_PREFIX):])
    raise DelayedMessageNotFoundError(text)


@dataclass
class _Intent:
    """A release in progress: these ``__delayed`` offsets go to (topic, partition) as one
    idempotent batch numbered ``sequence``."""

    topic: str
    partition: int
    sequence: int
    offsets: list[int]
    records: dict | None = field(default=None, repr=False, compare=False)
    """The payloads read when it was planned (None after a restart: read them again)."""

    def encode(self) -> bytes:
        t = self.topic.encode()
        return (_PLAN + _INTENT.pack(self.partition, self.sequence, len(t)) + t
                + b"".join(map(_OFFSET.pack, self.offsets)))


def _add_record(topic: str, pairs: Iterable[tuple[int, int]]) -> bytes:
    t = topic.encode()
    return _ADD + struct.pack(">H", len(t)) + t + b"".join(_PAIR.pack(o, d) for o, d in pairs)


def _done_record(offsets: Iterable[int]) -> bytes:
    return _DONE + b"".join(map(_OFFSET.pack, offsets))


def _topic_at(data: bytes, at: int, length: int) -> str:
    return data[at:at + length].decode()


class DelayScheduler:
    """The broker's delayed messages (module docstring); thread-safe."""

    def __init__(self, broker: "Broker", directory: Path, log_config: "LogConfig", *,
                 flusher: "Flusher | None"):
        self._broker = broker
        self._clock = broker.clock
        self._lock = threading.RLock()
        self._release_lock = threading.Lock()   # one release step at a time
        self._pending = SortedList()            # index keys (see _key)
        self._counts: dict[str, int] = {}       # pending messages per topic
        self._topic_no: dict[str, int] = {}
        self._topic_names: list[str] = []
        self._queues: dict[tuple[str, int], deque[_Intent]] = {}   # intents not done yet
        self._next_seq: dict[tuple[str, int], int] = {}
        self._producer_id = -1
        self._mark = 0                            # __delayed offsets below it are indexed
        self._timer: Timer | None = None
        self._timer_due: int | None = None
        self._closed = False
        self._state = LazyStateLog(directory, name="__delayed_index/0", log_config=log_config,
                                   clock=self._clock, flusher=flusher)
        try:
            self._replay()
        except BaseException:
            self._state.close()
            raise

    # --- recovery ---------------------------------------------------------------------------
    def _number(self, topic: str) -> int:
        no = self._topic_no.get(topic)
        if no is None:
            no = self._topic_no[topic] = len(self._topic_names)
            self._topic_names.append(topic)
        return no

    def _replay(self) -> None:
        """Rebuild the index and the unfinished intents from the state log."""
        pending: dict[int, int] = {}              # offset -> key
        intents: list[_Intent] = []
        done: set[int] = set()
        for change in self._state.replay():
            kind = change[:1]
            if kind == _ADD:
                n = struct.unpack_from(">H", change, 1)[0]
                no = self._number(_topic_at(change, 3, n))
                for offset, due in _PAIR.iter_unpack(memoryview(change)[3 + n:]):
                    pending[offset] = _key(due, offset, no)
                    done.discard(offset)
                    self._mark = max(self._mark, offset + 1)
            elif kind == _DONE:
                for (offset,) in _OFFSET.iter_unpack(memoryview(change)[1:]):
                    pending.pop(offset, None)
                    done.add(offset)
            elif kind == _PLAN:
                partition, sequence, n = _INTENT.unpack_from(change, 1)
                at = 1 + _INTENT.size
                topic = _topic_at(change, at, n)
                offsets = [o for (o,) in _OFFSET.iter_unpack(memoryview(change)[at + n:])]
                intents.append(_Intent(topic, partition, sequence, offsets))
                self._next_seq[(topic, partition)] = sequence + len(offsets)
            elif kind == _NEXT:
                partition, sequence, n = _SEQ.unpack_from(change, 1)
                self._next_seq[(_topic_at(change, 1 + _SEQ.size, n), partition)] = sequence
            elif kind == _PRODUCER:
                self._producer_id = _OFFSET.unpack_from(change, 1)[0]
            elif kind == _MARK:
                self._mark = max(self._mark, _OFFSET.unpack_from(change, 1)[0])
        for intent in intents:
            if not done.issuperset(intent.offsets):   # appended, perhaps, but not marked done
                for offset in intent.offsets:
                    pending.pop(offset, None)         # its intent delivers it, not the index
                self._queues.setdefault((intent.topic, intent.partition), deque()).append(intent)
        self._pending = SortedList(pending.values())
        for key in self._pending:
            name = self._topic_names[key & _TOPIC_MASK]
            self._counts[name] = self._counts.get(name, 0) + 1

    def start(self) -> None:
        """Called once the broker serves appends: index what a crash left unindexed, finish
        the releases a crash interrupted, and arm the timer."""
        with self._release_lock:
            with self._lock:
                self._index_unindexed()
            self._deliver_queued()
            with self._lock:
                self._arm()

    def _payloads(self, create: bool = True):
        """The partition log of ``__delayed`` (created on first use; None if it does not
        exist and ``create`` is False)."""
        broker = self._broker
        try:
            return broker.partition_leader(DELAYED_TOPIC, 0).log
        except TopicNotFoundError:
            if not create:
                return None
        broker.create_topic(DELAYED_TOPIC, 1, config=TopicConfig(retention_ms=_FOREVER,
                                                                 retention_bytes=_FOREVER))
        return broker.partition_leader(DELAYED_TOPIC, 0).log

    def _index_unindexed(self) -> None:
        """Index ``__delayed`` records a crash left between their append and their index
        entry (the producer never got an answer, but the record is there: deliver it)."""
        log_ = self._payloads(create=False)
        if log_ is None:
            return
        position = max(self._mark, log_.start_offset)
        while position < log_.end_offset:
            records = log_.read(position, 1000)
            if not records:
                break
            for r in records:
                due, _, topic = _envelope(r.value)
                self._add(r.offset, due, topic)
            position = records[-1].offset + 1

    # --- scheduling ---------------------------------------------------------------------------
    def schedule(self, topic: str, value: bytes, delay_ms: int, *, key: bytes | None = None,
                 partition: int = -1, headers: dict[str, str] | None = None,
                 transaction_id: str | None = None) -> DelayedRecordMetadata:
        """Store one message for delivery ``delay_ms`` from now; its id cancels it."""
        broker = self._broker
        if transaction_id is not None:
            raise InvalidRequestError(
                "a delayed produce cannot be part of a transaction",
                hint="Produce the delayed message outside the transaction (it is delivered "
                     "on its own at its due time), or produce it at once inside it.")
        delay_ms = check_delay(delay_ms, broker.config.max_delay_ms)
        partition = check_partition(partition, produce=True)
        size = len(value) + (len(key) if key else 0)
        if size > broker.config.max_message_bytes:
            raise MessageTooLargeError(size, broker.config.max_message_bytes)
        broker.check_produce_target(topic, partition, value)
        t = topic.encode()
        with self._lock:
            self._check_open()
            now = self._clock.now_ms()
            due = now + delay_ms
            stored = _ENVELOPE.pack(due, partition, len(t)) + t + value
            self._payloads()  # with its own retention, before append could auto-create it
            result = broker.append(AppendRequest(DELAYED_TOPIC,
                                                 ((key or None, stored, 0, headers, None),)))
            offset = result.placements[0][1]
            self._add(offset, due, topic)
            self._state.compact_if_due(self._snapshot)
            self._arm()
        return DelayedRecordMetadata(topic, max(partition, 0), 0, now,
                                     len(key) if key else -1, len(value),
                                     f"{ID_PREFIX}{offset}", due)

    def _add(self, offset: int, due: int, topic: str) -> None:
        """Index one stored message (under the lock)."""
        self._state.append(_add_record(topic, ((offset, due),)))
        self._pending.add(_key(due, offset, self._number(topic)))
        self._counts[topic] = self._counts.get(topic, 0) + 1
        self._mark = max(self._mark, offset + 1)

    def cancel(self, delay_id: str) -> None:
        """Make sure a pending message is never delivered; DelayedMessageNotFoundError when
        the id is unknown or the message was delivered or cancelled already."""
        offset = parse_id(delay_id)
        with self._lock:
            self._check_open()
            log_ = self._payloads(create=False)
            if log_ is None or not log_.start_offset <= offset < log_.end_offset:
                state = "not found" if offset >= self._mark else \
                    "was already delivered or cancelled"
                raise DelayedMessageNotFoundError(delay_id, state)
            due, _, topic = _envelope(log_.read(offset, 1)[0].value)
            key = _key(due, offset, self._number(topic))
            if key not in self._pending:
                raise DelayedMessageNotFoundError(delay_id, "was already delivered or cancelled")
            self._state.append(_done_record((offset,)))
            self._remove(key, topic)
            self._state.compact_if_due(self._snapshot)

    def _remove(self, key: int, topic: str) -> None:
        self._pending.remove(key)
        left = self._counts[topic] - 1
        if left:
            self._counts[topic] = left
        else:
            del self._counts[topic]

    # --- listing ------------------------------------------------------------------------------
    def count(self, topic: str | None = None) -> int:
        """Pending messages of ``topic`` (None: of every topic)."""
        with self._lock:
            return len(self._pending) if topic is None else self._counts.get(topic, 0)

    def list(self, topic: str, limit: int = 1000) -> list[dict]:
        """Up to ``limit`` pending messages of ``topic`` in due order: ``{"id", "topic",
        "due_at"}`` (the index holds no payloads)."""
        limit = check_int("limit", limit)
        with self._lock:
            no = self._topic_no.get(topic)
            if no is None or limit <= 0 or not self._counts.get(topic):
                return []
            found = []
            for key in self._pending:
                if key & _TOPIC_MASK == no:
                    due, offset, _ = _unkey(key)
                    found.append({"id": f"{ID_PREFIX}{offset}", "topic": topic, "due_at": due})
                    if len(found) >= limit:
                        break
            return found

    # --- releasing ------------------------------------------------------------------------------
    def _arm(self) -> None:
        """Have the timer fire at the earliest due time (under the lock)."""
        if self._closed:
            return
        due = _unkey(self._pending[0])[0] if self._pending else None
        if self._queues:
            retry = self._clock.now_ms() + RETRY_MS
            due = retry if due is None else min(due, retry)
        if due == self._timer_due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = None if due is None else self._broker.timers.call_at(due, self._fire)

    def _fire(self) -> None:
        with self._lock:
            self._timer = self._timer_due = None
        self.release_due()

    def release_due(self) -> int:
        """Deliver every message that is due, in due order, a chunk at a time; returns how
        many were delivered."""
        delivered = 0
        with self._release_lock:
            while True:
                with self._lock:
                    if self._closed:
                        return delivered
                    planned = self._plan_chunk()
                delivered += self._deliver_queued()
                if not planned:
                    break
            with self._lock:
                self._arm()
        return delivered

    def _plan_chunk(self) -> int:
        """Take up to RELEASE_CHUNK due messages off the index and write their intents
        (under the lock); returns how many."""
        now = self._clock.now_ms()
        pending = self._pending
        taken = []
        while pending and len(taken) < RELEASE_CHUNK and pending[0] >> (
                _OFF_BITS + _TOPIC_BITS) <= now:
            taken.append(pending.pop(0))
        if not taken:
            return 0
        if self._producer_id < 0:  # the first release: the scheduler's own producer id
            self._producer_id = self._broker.init_producer_id()[0]
            self._state.append(_PRODUCER + _OFFSET.pack(self._producer_id))
        stored = _read(self._payloads(), [(k >> _TOPIC_BITS) & _OFF_MASK for k in taken])
        plans: dict[tuple[str, int], list[int]] = {}
        retry: list[tuple[int, str]] = []
        for key in taken:
            _, offset, no = _unkey(key)
            topic = self._topic_names[no]
            record = stored[offset]
            _, partition, _ = _envelope(record.value)
            try:
                partition = self._broker.place(topic, record.key, partition)
            except Exception as exc:  # e.g. the topic is gone and may not be created
                log.warning("delayed message %s%d: cannot place it in %r (%s); retrying",
                            ID_PREFIX, offset, topic, exc)
                retry.append((offset, topic))
                continue
            plans.setdefault((topic, partition), []).append(offset)
        changes = []
        for (topic, partition), offsets in plans.items():
            sequence = self._next_seq.get((topic, partition), 0)
            self._next_seq[(topic, partition)] = sequence + len(offsets)
            intent = _Intent(topic, partition, sequence, offsets,
                             {o: stored[o] for o in offsets})
            self._queues.setdefault((topic, partition), deque()).append(intent)
            changes.append(intent.encode())
        later = now + RETRY_MS
        for topic, group in groupby(sorted(retry, key=lambda r: r[1]), key=lambda r: r[1]):
            changes.append(_add_record(topic, ((o, later) for o, _ in group)))
        self._state.append(*changes)
        for key in taken:
            topic = self._topic_names[key & _TOPIC_MASK]
            left = self._counts[topic] - 1
            if left:
                self._counts[topic] = left
            else:
                del self._counts[topic]
        for offset, topic in retry:
            self._pending.add(_key(later, offset, self._number(topic)))
            self._counts[topic] = self._counts.get(topic, 0) + 1
        return len(taken)

    def _deliver_queued(self) -> int:
        """Append every queued intent, each partition's in order; an intent that fails stays
        queued (and so do those behind it) and is retried later. Returns records delivered."""
        with self._lock:
            queues = [(tp, list(q)) for tp, q in self._queues.items()]
        finished: list[_Intent] = []
        for _, intents in queues:
            for intent in intents:
                try:
                    self._append(intent)
                except Exception as exc:
                    if self._broker.closed:
                        return 0
                    log.warning("delivering delayed messages to %s/%d failed (%s); retrying",
                                intent.topic, intent.partition, exc)
                    break
                finished.append(intent)
        if not finished:
            return 0
        with self._lock:
            self._state.append(_done_record(o for i in finished for o in i.offsets))
            for intent in finished:
                tp = (intent.topic, intent.partition)
                queue = self._queues[tp]
                queue.popleft()
                if not queue:
                    del self._queues[tp]
            self._state.compact_if_due(self._snapshot)
        return sum(len(i.offsets) for i in finished)

    def _append(self, intent: _Intent) -> None:
        """Append an intent's records as the idempotent batch it planned (a second append
        after a crash is answered, not written)."""
        stored = intent.records or _read(self._payloads(), intent.offsets)
        intent.records = None
        records = []
        for offset in intent.offsets:
            r = stored[offset]
            _, _, n = _ENVELOPE.unpack_from(r.value)
            records.append((r.key, r.value[_ENVELOPE.size + n:], intent.partition,
                            decode_headers(r.headers) if r.headers else None, None))
        self._broker.append(AppendRequest(intent.topic, records,
                                          producer=(self._producer_id, 0, intent.sequence)))

    # --- upkeep ---------------------------------------------------------------------------------
    def _snapshot(self) -> Iterator[bytes]:
        """The state as changes that rebuild it (for StateLog compaction; under the lock)."""
        yield _PRODUCER + _OFFSET.pack(self._producer_id)
        yield _MARK + _OFFSET.pack(self._mark)
        for (topic, partition), sequence in self._next_seq.items():
            t = topic.encode()
            yield _NEXT + _SEQ.pack(partition, sequence, len(t)) + t
        by_topic: dict[int, list[tuple[int, int]]] = {}
        for key in self._pending:
            due, offset, no = _unkey(key)
            by_topic.setdefault(no, []).append((offset, due))
        for no, pairs in by_topic.items():
            for i in range(0, len(pairs), _SNAPSHOT_CHUNK):
                yield _add_record(self._topic_names[no], pairs[i:i + _SNAPSHOT_CHUNK])
        for queue in self._queues.values():
            for intent in queue:
                yield intent.encode()

    def delete_delivered(self) -> int:
        """Delete the ``__delayed`` segments holding only delivered or cancelled messages;
        returns how many records went (called by the broker's retention pass)."""
        with self._lock:
            log_ = None if self._closed else self._payloads(create=False)
            if log_ is None or log_.segment_count < 2:
                return 0  # the active segment is never deleted: nothing to look for
            keys = list(self._pending)   # what is still needed now; later adds lie above
            lowest = min([self._mark] + [min(i.offsets) for q in self._queues.values()
                                         for i in q])
        # the minimum outside the lock: a million keys take a while, produce must not wait
        lowest = min(lowest, min(((k >> _TOPIC_BITS) & _OFF_MASK for k in keys),
                                 default=lowest))
        with self._lock:
            return 0 if self._closed else log_.delete_before(lowest)

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerClosedError()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
        with self._release_lock:
            self._state.close()


def _read(log_, offsets: list[int]) -> dict:
    """The ``__delayed`` records at ``offsets``, by offset, read a run of consecutive offsets
    at a time: a release takes them in due order, which is mostly produce order, so one read
    serves many (a read per record cost ten times as much)."""
    found = {}
    ordered = sorted(offsets)
    i = 0
    while i < len(ordered):
        j = i + 1
        while j < len(ordered) and ordered[j] == ordered[j - 1] + 1:
            j += 1
        position, end = ordered[i], ordered[j - 1] + 1
        while position < end:
            records = log_.read(position, end - position, _READ_BYTES)
            for r in records:
                found[r.offset] = r
            position = records[-1].offset + 1
        i = j
    return found


def _envelope(stored: bytes) -> tuple[int, int, str]:
    """(due, partition, topic) of a stored ``__delayed`` value."""
    due, partition, n = _ENVELOPE.unpack_from(stored)
    return due, partition, stored[_ENVELOPE.size:_ENVELOPE.size + n].decode()
