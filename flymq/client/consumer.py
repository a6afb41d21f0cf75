"""Consumers built only on ``FlyMQClient`` (client-api.md §5, §6), so they run on any transport.

- :class:`HighLevelConsumer`: every partition of several topics for one group, with polling,
  iteration, auto-commit and seeking. Committed positions are "next offset to read"; during
  iteration that is the last *yielded* message + 1, never the end of a fetched batch.
- :class:`Consumer`: one topic-partition with a manual position.
- :class:`ConsumerGroup`: a background thread driving one ``Consumer`` per partition.

A ``HighLevelConsumer`` is a member of its group where the broker serves ``groups`` (its
partitions come from the group's coordinator, :mod:`flymq.client.assignment`); against an
upstream server it reads every partition of its topics alone. ``Consumer`` and
``ConsumerGroup`` are upstream's and take part in no rebalancing.
"""

from __future__ import annotations

import inspect
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

from flymq.client.assignment import AllPartitions, GroupMember
from flymq.client.config import ConsumerConfig
from flymq.client.dead_letters import DeadLetterRouter, process as process_with_retries
from flymq.clock import SYSTEM_CLOCK, Clock
from flymq.errors import (BrokerClosedError, ConsumerError, CorruptRecordError, FlyMQError,
                          GroupMembershipError)
from flymq.matcher import is_pattern, resolve
from flymq.models import ConsumedMessage

if TYPE_CHECKING:
    from datetime import datetime

    from flymq.client.client import FlyMQClient

__all__ = ["HighLevelConsumer", "Consumer", "ConsumerGroup"]

log = logging.getLogger("flymq.consumer")

IDLE_BACKOFF_S = 0.1  # how long an endless iterator waits after an empty poll
REJOIN_STEP_S = 0.005  # how often a member joins again while its group rebalances
TopicPartition = tuple[str, int]
Listener = Callable[[list[TopicPartition]], Any]


def _resolve_topics(client: "FlyMQClient", topics: str | list[str]) -> list[str]:
    topics = [topics] if isinstance(topics, str) else list(topics)
    return resolve(topics, client.list_topics()) if any(map(is_pattern, topics)) else topics


def _partitions(client: "FlyMQClient", topic: str) -> list[int]:
    found = client.get_cluster_metadata(topic).get_topic_partitions(topic)
    return sorted(p.partition for p in found) or [0]


def _reset_if_out_of_range(client: "FlyMQClient", topic: str, partition: int, position: int,
                           reset: str) -> int | None:
    """Where to read next when ``position`` is no longer in the log (retention deleted it, or
    the topic was re-created): by ``reset``, as Kafka's auto.offset.reset; None when in range.

    A fetch below the log start answers "nothing here" (wire spec §7.6), so without this check a
    consumer that fell behind retention would wait there forever.
    """
    start, end = client.partition_offsets(topic, partition)
    if start <= position <= end:
        return None
    return start if str(reset) == "earliest" else end


def _notify(callback: Callable[..., Any], offsets: Any, error: BaseException | None) -> None:
    """Call ``callback(offsets, error)`` if it takes two arguments, else ``callback(error)``."""
    try:
        inspect.signature(callback).bind(offsets, error)
    except (TypeError, ValueError):
        callback(error)
    else:
        callback(offsets, error)


def _gone(client: "FlyMQClient", exc: FlyMQError) -> bool:
    """Whether ``exc`` means no call can succeed again (the broker or the client was closed).
    Such an error ends polls and commits instead of being skipped as one partition's failure,
    so that a consumer never waits forever on a closed broker."""
    return isinstance(exc, BrokerClosedError) or client.closed


class HighLevelConsumer:
    """The partitions of ``topics`` this member of ``group_id`` is assigned; see the module
    docstring and docs/consumers.md.

    ``on_assign(partitions)``, ``on_revoke(partitions)`` and ``on_lost(partitions)`` are called
    in the polling thread with ``(topic, partition)`` lists: on_revoke before a rebalance takes
    partitions away (commit there; auto-commit already did when enabled), on_lost when the
    member's session ended and they may belong to another member already (do not commit).

    ``clock`` times heartbeats, auto-commits and retry backoffs; by default the client's
    (``FlyMQClient.clock``: an embedded broker's own, so a test's ManualClock drives them).
    """

    def __init__(self, client: "FlyMQClient", topics: str | list[str], group_id: str,
                 config: ConsumerConfig | None = None, *, clock: Clock | None = None,
                 on_assign: Listener | None = None, on_revoke: Listener | None = None,
                 on_lost: Listener | None = None):
        self._client = client
        self._group_id = group_id
        self._config = config or ConsumerConfig(group_id=group_id, auto_offset_reset="earliest")
        self._clock = clock = client.clock if clock is None else clock
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        self._closed = threading.Event()
        self._wake = threading.Event()   # set by close() and, embedded, by new records
        patterns = [topics] if isinstance(topics, str) else list(topics)
        source = GroupMember if client.supports("groups") else AllPartitions
        self._members = source(client, group_id, patterns, self._config, clock, self._wake)
        self._fetched: dict[TopicPartition, int] = {}    # where the next fetch starts
        self._consumed: dict[TopicPartition, int] = {}   # next offset the user has not seen
        self._committed: dict[TopicPartition, int] = {}
        self._checked_at: dict[TopicPartition, int] = {}  # empty positions checked vs the log
        self._order: list[TopicPartition] = []  # assigned; round-robin start rotates
        self._paused: set[TopicPartition] = set()
        self._hinted: set[TopicPartition] | None = None  # partitions an idle wait saw filled
        self._seeks = 0
        self._damage: CorruptRecordError | None = None  # raised once the records before it are out
        self._last_commit = clock.monotonic()
        self._dead_letters = DeadLetterRouter(client, self._config.max_retries,
                                              self._config.retry_backoff_ms, clock)
        self._coordinate()

    @property
    def topics(self) -> list[str]:
        return list(self._members.topics)

    @property
    def group_id(self) -> str:
        return self._group_id

    def assignment(self) -> list[TopicPartition]:
        """[ext] The ``(topic, partition)`` pairs this consumer owns now."""
        return list(self._order)

    # --- membership ----------------------------------------------------------------------
    def _coordinate(self) -> None:
        """Heartbeat when due; act on a rebalance (revoke, join again); take new partitions."""
        assigned = self._members.update(self._revoke)
        if assigned:
            self._assign(assigned)

    def _assign(self, partitions: list[TopicPartition]) -> None:
        """Start each new partition at the group's committed offset, else by
        ``auto_offset_reset`` ("latest" on an empty partition is 0)."""
        committed = self._members.committed()
        for tp in partitions:
            if tp in committed:
                position = self._committed[tp] = committed[tp]
            else:
                start, end = self._client.partition_offsets(*tp)
                position = start if self._config.auto_offset_reset == "earliest" else end
            self._fetched[tp] = self._consumed[tp] = position
            self._order.append(tp)
        if self._on_assign is not None:
            self._on_assign(list(partitions))

    def _revoke(self, partitions: list[TopicPartition], lost: bool) -> None:
        """Give ``partitions`` up: commit them first (auto-commit) unless they are lost."""
        if lost:
            if self._on_lost is not None:
                self._on_lost(list(partitions))
        else:
            if self._config.enable_auto_commit:
                self._commit_positions(partitions)
            if self._on_revoke is not None:
                self._on_revoke(list(partitions))
        self._dead_letters.forget(partitions)   # committed before them: re-read by the next owner
        gone = set(partitions)
        self._order = [tp for tp in self._order if tp not in gone]
        for tp in partitions:
            for table in (self._fetched, self._consumed, self._committed, self._checked_at):
                table.pop(tp, None)
        self._paused -= gone
        self._seeks += 1   # an iteration drops what it fetched for them

    # --- reading -------------------------------------------------------------------------
    def _fetch_round(self, budget: int) -> tuple[list[ConsumedMessage], dict[TopicPartition, int]]:
        """One fetch per partition until ``budget`` is used; messages and new positions.
        After an idle wait that saw which partitions have records, only those: it saves a
        round trip per empty partition between a record's arrival and its delivery."""
        if budget <= 0:
            return [], {}
        messages: list[ConsumedMessage] = []
        first: list[ConsumedMessage] | None = None  # the one non-empty fetch, kept lazy
        ends: dict[TopicPartition, int] = {}
        hinted, self._hinted = self._hinted, None
        candidates = [tp for tp in self._order if tp not in self._paused
                      and (hinted is None or tp in hinted)]
        if hinted is None and len(candidates) > 1:
            # one request says which partitions have something: not a fetch round trip
            # per empty partition (a consumer of 60 idle partitions polls in 1, not 60)
            try:
                ready = self._client.ready_partitions(
                    [(tp[0], tp[1], self._fetched[tp]) for tp in candidates])
            except FlyMQError as exc:
                if _gone(self._client, exc):
                    raise
                ready = None   # the fetches below say what is wrong, partition by partition
            if ready is not None:
                ready = set(ready)
                candidates = [tp for tp in candidates if tp in ready]
        for tp in candidates:
            if len(messages) >= budget:
                break
            position = self._fetched[tp]
            try:
                result = self._client.fetch(tp[0], tp[1], position, budget - len(messages),
                                            self._config.message_filter or "")
                if result.messages:
                    if first is None and not messages:
                        # a busy partition fills the whole budget: its fetch is the answer,
                        # whose messages are built only when read (flymq/message_list.py)
                        first = messages = result.messages
                    else:
                        if messages is first:
                            messages = list(first)
                        messages.extend(result.messages)
                ends[tp] = self._fetched[tp] = result.next_offset
                if result.next_offset == position and self._checked_at.get(tp) != position:
                    self._checked_at[tp] = position  # nothing read: at the end, or outside?
                    moved = _reset_if_out_of_range(self._client, tp[0], tp[1], position,
                                                   self._config.auto_offset_reset)
                    if moved is not None:
                        ends[tp] = self._fetched[tp] = moved
            except CorruptRecordError as exc:  # the position stays at the damage
                self._damage = self._damage or exc
            except FlyMQError as exc:
                if _gone(self._client, exc):
                    raise
                continue  # one bad partition must not stop the others
        if self._order:
            self._order.append(self._order.pop(0))
        return messages, ends

    def poll(self, timeout_ms: int = 1000, max_records: int | None = None
             ) -> list[ConsumedMessage]:
        """Up to ``max_records`` messages over all partitions, waiting up to ``timeout_ms``;
        nacked messages whose retry backoff has passed come first."""
        deadline = time.monotonic() + timeout_ms / 1000
        budget = max_records or self._config.max_poll_records
        while True:
            if self._closed.is_set():
                raise ConsumerError("Consumer is closed")
            self._coordinate()
            retries = self._dead_letters.due(budget)
            messages, ends = self._fetch_round(budget - len(retries))
            self._consumed.update(ends)
            if retries:
                messages = retries + list(messages)
            if not messages:
                self._raise_damage()
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            self._idle(min(remaining, IDLE_BACKOFF_S))

    def __iter__(self) -> Iterator[ConsumedMessage]:
        """Endless: yield each message, auto-commit on the interval; ends on ``close()``."""
        while not self._closed.is_set():
            self._raise_damage()
            self._coordinate()
            seeks = self._seeks
            messages, ends = self._fetch_round(self._config.max_poll_records)
            for message in messages:
                if self._seeks != seeks or self._closed.is_set():
                    break
                self._consumed[(message.topic, message.partition)] = message.offset + 1
                # again while nacked, each time once its backoff has passed
                yield from self._dead_letters.deliveries(message, self._wait_until)
                self._maybe_auto_commit()
            else:
                if self._seeks == seeks:
                    self._consumed.update(ends)  # filtered-out records count as seen
                if not messages:
                    self._idle(IDLE_BACKOFF_S)

    def _raise_damage(self) -> None:
        """Raise the CorruptRecordError a fetch round met, once the records fetched before it
        were handed out: the application decides (docs/consumers.md, "Damaged records")."""
        damage, self._damage = self._damage, None
        if damage is not None:
            raise damage

    def _idle(self, seconds: float) -> None:
        """Wait up to ``seconds`` for a record past the position of any assigned partition
        (embedded: woken by the first one; over TCP: by long-polls from a second connection,
        see :mod:`flymq.client.record_watch`); during a rebalance only briefly."""
        self._wake.clear()
        if self._closed.is_set():
            return
        if self._members.waiting:
            self._wake.wait(min(seconds, REJOIN_STEP_S))
            return
        positions = [(tp[0], tp[1], self._fetched[tp]) for tp in self._order
                     if tp not in self._paused]
        try:
            ready = self._client.wait_for_records(positions, seconds, self._wake)
        except FlyMQError:  # e.g. a topic deleted meanwhile: the next fetch round reports it
            self._wake.wait(seconds)
        else:
            self._hinted = set(ready) if ready else None

    def _wait_until(self, due_ms: int) -> bool:
        """Wait until the router's clock time reaches ``due_ms`` (a retry's backoff), woken by
        every move of a clock that jumps, so a ManualClock drives it and nothing sleeps a fixed
        time; False when the consumer closed first."""
        unsubscribe = self._clock.on_advance(self._wake.set)
        try:
            while not self._closed.is_set():
                self._wake.clear()
                left_ms = due_ms - self._dead_letters.now_ms()
                if left_ms <= 0:
                    return True
                real = self._clock.real_seconds(left_ms)
                self._wake.wait(IDLE_BACKOFF_S if real is None else min(real, IDLE_BACKOFF_S))
            return False
        finally:
            unsubscribe()

    def _maybe_auto_commit(self) -> None:
        now = self._clock.monotonic()
        if (self._config.enable_auto_commit
                and (now - self._last_commit) * 1000 >= self._config.auto_commit_interval_ms):
            self._last_commit = now
            self.commit()

    # --- committing ----------------------------------------------------------------------
    def _commit_positions(self, partitions: list[TopicPartition] | None = None
                          ) -> BaseException | None:
        """Commit the positions of ``partitions`` (None: all owned) that moved, each held
        before a message still waiting for its retry (at-least-once)."""
        held = self._dead_letters.held
        owned = self._order if partitions is None else partitions
        positions = {tp: held(tp, self._consumed[tp]) for tp in owned if tp in self._consumed}
        pending = {tp: p for tp, p in positions.items() if self._committed.get(tp) != p}
        done, error = self._members.commit(pending)
        self._committed.update(done)
        return error

    def commit(self) -> None:
        """Commit the position of every assigned partition. Raises a
        :class:`~flymq.errors.GroupMembershipError` when the group refused it (the partitions
        were reassigned: a stale generation); other failures are best effort, as upstream."""
        error = self._commit_positions()
        if isinstance(error, GroupMembershipError):
            raise error

    def commit_async(self, callback: Callable[..., Any] | None = None) -> None:
        """Commit, then ``callback(offsets, error)`` or ``callback(error)`` by its arity."""
        error = self._commit_positions()
        if callback is not None:
            _notify(callback, dict(self._committed), error)

    # --- positions -----------------------------------------------------------------------
    def _matching(self, partition: int | None, topic: str | None) -> list[TopicPartition]:
        return [tp for tp in self._order
                if (partition is None or tp[1] == partition) and topic in (None, tp[0])]

    def _move(self, partitions: list[TopicPartition], position: Callable[[TopicPartition], int]
              ) -> None:
        for tp in partitions:
            self._fetched[tp] = self._consumed[tp] = position(tp)
        self._seeks += 1

    def seek(self, partition: int, offset: int, *, topic: str | None = None) -> None:
        """Read ``partition`` (of ``topic``, or of every topic) from ``offset`` next."""
        self._move(self._matching(partition, topic), lambda tp: int(offset))

    def seek_to_timestamp(self, timestamp: "int | datetime", partition: int | None = None, *,
                          topic: str | None = None) -> None:
        """[ext] Read from the first record at or after ``timestamp`` (datetime or ms since the
        epoch) on ``partition`` (None: all) of ``topic`` (None: all). Needs a flymq server."""
        self._move(self._matching(partition, topic),
                   lambda tp: self._client.offset_for_timestamp(tp[0], tp[1], timestamp))

    def seek_to_beginning(self, partition: int | None = None, *,
                          topic: str | None = None) -> None:
        self._move(self._matching(partition, topic),
                   lambda tp: self._client.partition_offsets(*tp)[0])

    def seek_to_end(self, partition: int | None = None, *, topic: str | None = None) -> None:
        self._move(self._matching(partition, topic),
                   lambda tp: self._client.partition_offsets(*tp)[1])

    def position(self, partition: int = 0, *, topic: str | None = None) -> int:
        """Next offset to read on ``partition`` (of ``topic``, default the first topic)."""
        tp = (topic or (self.topics or [""])[0], partition)
        if tp not in self._consumed:
            raise ConsumerError(f"partition {partition} of {tp[0]} is not assigned")
        return self._consumed[tp]

    def pause(self, partition: int | None = None, *, topic: str | None = None) -> None:
        """[ext] Stop fetching ``partition`` (None: all) of ``topic`` (None: all) until
        :meth:`resume`; the consumer stays in its group (heartbeats go on)."""
        self._paused.update(self._matching(partition, topic))

    def resume(self, partition: int | None = None, *, topic: str | None = None) -> None:
        """[ext] Fetch paused partitions again."""
        self._paused.difference_update(self._matching(partition, topic))

    def paused(self) -> list[TopicPartition]:
        """[ext] The paused ``(topic, partition)`` pairs."""
        return [tp for tp in self._order if tp in self._paused]

    # --- failed messages (flymq/client/dead_letters.py) ----------------------------------
    def nack(self, message: ConsumedMessage, error: str = "") -> None:
        """[ext] Processing ``message`` (from iteration or :meth:`poll`) failed: it is handed
        out again (its ``retry_count`` one higher) once ``retry_backoff_ms`` of the consumer's
        clock have passed, by iteration before any later message, else by a later poll; a nack
        after ``max_retries`` retries routes it to the DLQ instead."""
        self._dead_letters.nack(message, error)

    def dead_letter(self, message: ConsumedMessage, reason: str = "manual",
                    error: str = "") -> str:
        """[ext] Route ``message`` to its topic's dead-letter queue now; the entry id."""
        return self._dead_letters.dead_letter(message, reason, error)

    def process(self, handler: Callable[[ConsumedMessage], Any]) -> None:
        """[ext] Call ``handler`` on every message until :meth:`close`; a message whose
        handler raises is retried, then dead-lettered (at-least-once)."""
        process_with_retries(self, handler, self._dead_letters)

    # --- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Commit (only with auto-commit on), call on_revoke and leave the group; idempotent.
        A final commit that fails is logged, not raised."""
        if self._closed.is_set():
            return
        try:
            self._members.close(self._close_assignment)
        except FlyMQError as exc:  # as Kafka's consumers do: the close itself still succeeds
            log.warning("consumer %s: final commit failed: %s", self._group_id, exc)
        finally:
            self._closed.set()
            self._wake.set()

    def _close_assignment(self) -> None:
        if self._order:
            self._revoke(list(self._order), False)

    def __enter__(self) -> "HighLevelConsumer":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class Consumer:
    """One topic-partition with a manual position (§6)."""

    def __init__(self, client: "FlyMQClient", topic: str, *, partition: int = 0,
                 group_id: str | None = None, config: ConsumerConfig | None = None):
        self._client = client
        self._topic, self._partition = topic, partition
        self._group_id = group_id or ""
        self._config = config or ConsumerConfig(group_id=group_id)
        self._closed = threading.Event()
        self._offset = self._subscribe(self._config.auto_offset_reset) if group_id else 0
        self._checked_at: int | None = None  # last empty position checked against the log

    def _subscribe(self, mode: str) -> int:
        return self._client.subscribe(self._topic, self._group_id, self._partition, mode)

    topic = property(lambda self: self._topic)
    partition = property(lambda self: self._partition)
    group_id = property(lambda self: self._group_id)
    offset = property(lambda self: self._offset)

    def subscribe(self, mode: str = "commit") -> int:
        """Re-join the group and move to the position ``mode`` names."""
        self._offset = self._subscribe(str(mode))
        return self._offset

    def poll(self, timeout_ms: int = 1000, max_records: int | None = None
             ) -> list[ConsumedMessage]:
        """One fetch from the current position (returns at once, empty at the end)."""
        if self._closed.is_set():
            raise ConsumerError("Consumer is closed")
        position = self._offset
        result = self._client.fetch(self._topic, self._partition, position,
                                    max_records or self._config.max_poll_records,
                                    self._config.message_filter or "")
        self._offset = result.next_offset
        if result.next_offset == position and self._checked_at != position:
            self._checked_at = position  # nothing read: at the end, or outside the log?
            moved = _reset_if_out_of_range(self._client, self._topic, self._partition, position,
                                           self._config.auto_offset_reset)
            self._offset = position if moved is None else moved
        return list(result.messages)

    def consume(self, timeout_ms: int = 1000) -> ConsumedMessage | None:
        messages = self.poll(timeout_ms, max_records=1)
        return messages[0] if messages else None

    def commit(self, offset: int | None = None) -> None:
        if self._group_id:
            self._client.commit_offset(self._topic, self._group_id, self._partition,
                                       self._offset if offset is None else offset)

    def seek(self, offset: int) -> None:
        self._offset = int(offset)

    def seek_to_beginning(self) -> None:
        self._offset = 0

    def seek_to_end(self) -> None:
        if self._group_id:
            self._offset = self._subscribe("latest")

    def get_position(self) -> int:
        return self._offset

    def get_committed_offset(self) -> int | None:
        if not self._group_id:
            return None
        return self._client.get_committed_offset(self._topic, self._group_id, self._partition)

    def get_lag(self) -> int | None:
        if not self._group_id:
            return None
        return self._client.get_lag(self._topic, self._group_id, self._partition)["lag"]

    def close(self) -> None:
        self._closed.set()

    def __iter__(self) -> Iterator[ConsumedMessage]:
        while not self._closed.is_set():
            messages = self.poll()
            yield from messages
            if not messages:
                self._closed.wait(IDLE_BACKOFF_S)

    def __enter__(self) -> "Consumer":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class ConsumerGroup:
    """A daemon thread polling one :class:`Consumer` per partition of ``topics`` (§6).

    A partition whose next records are damaged (:class:`CorruptRecordError`) stays at the
    damage; the error goes once to ``on_error`` [ext], else it is logged and raised by the
    next :meth:`poll` that finds no buffered message."""

    def __init__(self, client: "FlyMQClient", topics: str | list[str], *, group_id: str,
                 handler: Callable[[ConsumedMessage], None] | None = None,
                 config: ConsumerConfig | None = None, clock: Clock = SYSTEM_CLOCK,
                 on_error: Callable[[CorruptRecordError], None] | None = None):
        self._client = client
        self._on_error = on_error
        self._damage: queue.Queue[CorruptRecordError] = queue.Queue()
        self._reported: set[tuple] = set()
        self._patterns = [topics] if isinstance(topics, str) else list(topics)
        self._topics: list[str] = []
        self._group_id = group_id
        self._handler = handler
        self._config = config or ConsumerConfig(group_id=group_id)
        self._clock = clock
        self._consumers: list[Consumer] = []
        self._buffer: queue.Queue[ConsumedMessage] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    group_id = property(lambda self: self._group_id)
    topics = property(lambda self: list(self._topics or self._patterns))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._topics = _resolve_topics(self._client, self._patterns)
        self._consumers = [
            Consumer(self._client, t, partition=p, group_id=self._group_id, config=self._config)
            for t in self._topics for p in _partitions(self._client, t)]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"flymq-group-{self._group_id}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last_commit = self._clock.monotonic()
        while not self._stop.is_set():
            got = False
            for consumer in self._consumers:
                try:
                    messages = consumer.poll()
                except CorruptRecordError as exc:
                    self._report(exc)
                    continue
                except FlyMQError as exc:
                    if _gone(self._client, exc):
                        self._stop.set()  # nothing can succeed again: end the thread
                        return
                    continue
                got = got or bool(messages)
                for message in messages:
                    self._deliver(message)
            now = self._clock.monotonic()
            if (self._config.enable_auto_commit
                    and (now - last_commit) * 1000 >= self._config.auto_commit_interval_ms):
                last_commit = now
                self._commit_all()
            if not got:
                self._stop.wait(IDLE_BACKOFF_S)

    def _report(self, damage: CorruptRecordError) -> None:
        """Tell the application of ``damage`` once (each poll of the partition meets it)."""
        key = (damage.topic, damage.partition, damage.first_offset)
        if key in self._reported:
            return
        self._reported.add(key)
        if self._on_error is not None:
            try:
                self._on_error(damage)
            except Exception:  # noqa: BLE001 - a failing callback must not kill the thread
                log.exception("consumer group %s: on_error failed", self._group_id)
            return
        log.error("consumer group %s: %s", self._group_id, damage.message)
        self._damage.put(damage)

    def _deliver(self, message: ConsumedMessage) -> None:
        if self._handler is None:
            self._buffer.put(message)
            return
        try:
            self._handler(message)
        except Exception:  # noqa: BLE001 - a failing handler must not kill the group thread
            pass

    def _commit_all(self) -> None:
        for consumer in self._consumers:
            try:
                consumer.commit()
            except FlyMQError:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, commit (with auto-commit on) and close the consumers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._config.enable_auto_commit:
            self._commit_all()
        for consumer in self._consumers:
            consumer.close()

    def poll(self, timeout_ms: int = 1000) -> list[ConsumedMessage]:
        """Buffered messages (handler-less mode), waiting up to ``timeout_ms`` for the first;
        raises a CorruptRecordError the thread met once no message is buffered."""
        try:
            messages = [self._buffer.get(timeout=timeout_ms / 1000) if timeout_ms > 0
                        else self._buffer.get_nowait()]
        except queue.Empty:
            if not self._damage.empty():
                raise self._damage.get_nowait() from None
            return []
        while True:
            try:
                messages.append(self._buffer.get_nowait())
            except queue.Empty:
                return messages

    def get_lag(self) -> dict[str, int]:
        lag: dict[str, int] = {}
        for consumer in self._consumers:
            lag[consumer.topic] = lag.get(consumer.topic, 0) + (consumer.get_lag() or 0)
        return lag

    def reset_offsets(self, mode: str = "earliest") -> None:
        for consumer in self._consumers:
            self._client.reset_offset(consumer.topic, self._group_id, consumer.partition, mode)

    def reset_offsets_to_earliest(self) -> None:
        self.reset_offsets("earliest")

    def reset_offsets_to_latest(self) -> None:
        self.reset_offsets("latest")

    def describe(self) -> dict[str, Any]:
        """``describe_consumer_group`` for each subscribed topic, keyed by topic."""
        return {t: self._client.describe_consumer_group(t, self._group_id) for t in self.topics}

    def __enter__(self) -> "ConsumerGroup":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
