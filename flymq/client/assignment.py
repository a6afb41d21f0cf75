"""Where a :class:`~flymq.client.consumer.HighLevelConsumer`'s partitions come from.

* :class:`GroupMember` (a broker serving ``groups``): the consumer is one member of its group;
  the coordinator shares the partitions of the subscriptions among the members and rebalances
  on every join, leave and expired session (docs/consumers.md). Heartbeats keep the session:
  a timer on the consumer's clock sends them (so a ``ManualClock`` sends them when a test
  advances it), and each poll sends one when due. A rebalance is acted on in the polling
  thread: the consumer revokes (commits) first, then the member joins again.
* :class:`AllPartitions` (an upstream server, single-member mode): every partition of the
  subscribed topics; patterns are resolved again every ``metadata_max_age_ms``, so a topic
  created later is picked up and a deleted one dropped.

Both answer :meth:`update` with the partitions newly assigned (after revoking through the
consumer's callback) and commit through :meth:`commit`.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Callable, Sequence

from flymq.clock import Clock
from flymq.errors import (BrokerClosedError, FlyMQError, GroupMembershipError,
                          IllegalGenerationError, RebalanceInProgressError, TopicNotFoundError,
                          UnknownMemberIdError)
from flymq.matcher import is_pattern, resolve
from flymq.timers import TimerService

if TYPE_CHECKING:
    from flymq.client.client import FlyMQClient
    from flymq.client.config import ConsumerConfig

log = logging.getLogger("flymq.consumer")

TopicPartition = tuple[str, int]
#: ``revoke(partitions, lost)``: the consumer gives ``partitions`` up; ``lost`` when the
#: member's session ended, so they may already belong to another member (do not commit).
Revoke = Callable[[list[TopicPartition], bool], None]


class AllPartitions:
    """Single-member mode: every partition of the subscribed topics and patterns."""

    def __init__(self, client: "FlyMQClient", group_id: str, topics: Sequence[str],
                 config: "ConsumerConfig", clock: Clock, wake: threading.Event):
        self._client, self._group_id = client, group_id
        self._patterns = list(topics)
        self._clock = clock
        self._refresh_s = config.metadata_max_age_ms / 1000
        self._checked_at: float | None = None
        self.owned: list[TopicPartition] = []
        self.topics: list[str] = []

    @property
    def waiting(self) -> bool:
        return False

    def update(self, revoke: Revoke) -> list[TopicPartition]:
        """Partitions new since the last call; those of deleted topics are revoked."""
        now = self._clock.monotonic()
        if self._checked_at is not None and (now - self._checked_at) < self._refresh_s:
            return []
        self._checked_at = now
        wildcard = any(map(is_pattern, self._patterns))
        self.topics = (resolve(self._patterns, self._client.list_topics()) if wildcard
                       else self._patterns)
        current: list[TopicPartition] = []
        for topic in self.topics:
            try:
                current.extend((topic, p) for p in range(self._client.partition_count(topic)))
            except TopicNotFoundError:
                if not wildcard:  # a named topic: its partition 0, as upstream clients do
                    current.append((topic, 0))
        gone = [tp for tp in self.owned if tp not in current]
        if gone:
            revoke(gone, False)
        new = [tp for tp in current if tp not in self.owned]
        self.owned = current
        return new

    def committed(self) -> dict[TopicPartition, int]:
        found: dict[TopicPartition, int] = {}
        for topic in {t for t, _ in self.owned}:
            try:
                group = self._client.describe_consumer_group(topic, self._group_id)
            except FlyMQError:
                continue
            found.update(((topic, o["partition"]), o["offset"]) for o in group.get("offsets", []))
        return found

    def commit(self, offsets: dict[TopicPartition, int]
               ) -> tuple[dict[TopicPartition, int], BaseException | None]:
        """Upstream COMMIT per partition, best effort: what was stored and the first error."""
        error = None
        done: dict[TopicPartition, int] = {}
        for (topic, partition), offset in offsets.items():
            try:
                self._client.commit_offset(topic, self._group_id, partition, offset)
                done[(topic, partition)] = offset
            except FlyMQError as exc:
                if isinstance(exc, BrokerClosedError) or self._client.closed:
                    raise
                error = error or exc
        return done, error

    def close(self, commit_first: Callable[[], None]) -> None:
        commit_first()


class GroupMember:
    """One member of a consumer group, driven by its consumer's polls; thread-safe."""

    def __init__(self, client: "FlyMQClient", group_id: str, topics: Sequence[str],
                 config: "ConsumerConfig", clock: Clock, wake: threading.Event):
        self._client, self._group_id = client, group_id
        self._topics = list(topics)
        self._wake = wake             # ends the consumer's idle wait when a rebalance starts
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self.member_id = ""
        self.generation = -1
        self.owned: list[TopicPartition] = []
        self._rejoin = True           # a join is needed (first one, or a rebalance started)
        self._lost = False            # the session ended: owned partitions are lost
        self._last_poll = clock.monotonic()
        self._last_beat = clock.monotonic()
        self._timers = TimerService(clock)
        self._closed = False
        self._timers.call_every(self._config.heartbeat_interval_ms, self._beat_on_timer)

    @property
    def topics(self) -> list[str]:
        return sorted({t for t, _ in self.owned})

    @property
    def waiting(self) -> bool:
        """A rebalance is under way: the consumer polls again soon instead of idling."""
        return self._rejoin

    # --- heartbeats ---------------------------------------------------------------------------
    def _beat_on_timer(self) -> None:
        """Between polls: keep the session, unless the application stopped polling for longer
        than ``max_poll_interval_ms``; then leave, as Kafka's consumers do, so the group
        rebalances instead of waiting for a stuck member."""
        if self._closed or self._client.closed:
            self._timers.close()   # the client went away without closing this consumer
            return
        idle_ms = (self._clock.monotonic() - self._last_poll) * 1000
        if idle_ms > self._config.max_poll_interval_ms and self.generation >= 0:
            log.warning("consumer of %s did not poll for %d ms (max_poll_interval_ms): "
                        "leaving the group", self._group_id, idle_ms)
            self._leave(lost=True)
            self._wake.set()
            return
        self._beat()

    def beat_if_due(self) -> None:
        """From a poll: note it, and send a heartbeat when one is due."""
        now = self._clock.monotonic()
        self._last_poll = now
        if (now - self._last_beat) * 1000 >= self._config.heartbeat_interval_ms:
            self._beat()

    def _beat(self) -> None:
        with self._lock:
            member_id, generation = self.member_id, self.generation
            if not member_id or generation < 0 or self._rejoin:
                return
            self._last_beat = self._clock.monotonic()
        try:
            self._client.heartbeat(self._group_id, member_id, generation)
        except GroupMembershipError as exc:
            self._on_error(exc, member_id, generation)
        except FlyMQError as exc:  # e.g. the connection dropped: the next beat retries
            log.debug("heartbeat of %s failed: %s", self._group_id, exc)

    def _on_error(self, exc: GroupMembershipError, member_id: str, generation: int) -> None:
        """What a refused heartbeat or commit says the member must do next."""
        with self._lock:
            if (member_id, generation) != (self.member_id, self.generation):
                return   # an answer about a generation this member has left already
            self._rejoin = True
            if isinstance(exc, UnknownMemberIdError):
                self.member_id, self._lost = "", True
            elif isinstance(exc, IllegalGenerationError):
                self._lost = True
        self._wake.set()

    # --- assignment ---------------------------------------------------------------------------
    def update(self, revoke: Revoke) -> list[TopicPartition]:
        """Act on a rebalance: revoke what is owned, then join (again); the partitions of the
        new generation once the rebalance completed, else []."""
        self.beat_if_due()
        if not self._rejoin:
            return []
        if self.owned:
            revoke(list(self.owned), self._lost)
            self.owned = []
        self._lost = False
        try:
            joined = self._client.join_group(
                self._group_id, self.member_id, topics=self._topics,
                strategies=self._strategies(), session_timeout_ms=self._config.session_timeout_ms,
                rebalance_timeout_ms=self._config.max_poll_interval_ms)
            with self._lock:
                self.member_id = joined.member_id
            if joined.generation < 0:
                return []   # others have not joined again yet
            assigned = self._client.sync_group(self._group_id, joined.member_id,
                                               joined.generation)
        except (RebalanceInProgressError, IllegalGenerationError):
            return []       # the group moved on meanwhile: join again
        except UnknownMemberIdError:
            with self._lock:
                self.member_id = ""
            return []
        with self._lock:
            self.generation = joined.generation
            self.owned = list(assigned)
            self._rejoin = False
            self._last_beat = self._clock.monotonic()
        return list(assigned)

    def _strategies(self) -> list[str]:
        value = self._config.partition_assignment_strategy
        return [value] if isinstance(value, str) else list(value)

    def committed(self) -> dict[TopicPartition, int]:
        return self._client.fetch_group_offsets(self._group_id)

    def commit(self, offsets: dict[TopicPartition, int]
               ) -> tuple[dict[TopicPartition, int], BaseException | None]:
        """One all-or-none commit with this member's generation; a refusal (stale generation,
        unknown member) also schedules a join and is returned."""
        with self._lock:
            member_id, generation = self.member_id, self.generation
        if not offsets:
            return {}, None
        try:
            self._client.commit_group_offsets(
                self._group_id, [(t, p, o) for (t, p), o in offsets.items()],
                member_id=member_id, generation=generation)
        except GroupMembershipError as exc:
            self._on_error(exc, member_id, generation)
            return {}, exc
        return offsets, None

    # --- lifetime -----------------------------------------------------------------------------
    def _leave(self, *, lost: bool) -> None:
        with self._lock:
            member_id, self.generation = self.member_id, -1
            self.member_id, self._rejoin, self._lost = "", True, lost
        if member_id:
            try:
                self._client.leave_group(self._group_id, member_id)
            except FlyMQError as exc:  # gone already (expired, or the connection closed)
                log.debug("leaving %s: %s", self._group_id, exc)

    def close(self, commit_first: Callable[[], None]) -> None:
        """Commit (the consumer's final commit), then leave cleanly: the group rebalances at
        once instead of after a session timeout."""
        self._closed = True
        self._timers.close()
        try:
            commit_first()
        finally:
            self._leave(lost=False)
