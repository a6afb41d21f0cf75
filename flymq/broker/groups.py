"""Consumer groups: committed offsets (durable), members and generations (in memory).

A group is a ``group_id`` across topics, as in Kafka: its committed offsets are keyed by
(topic, partition), and its live members (:mod:`flymq.broker.membership`) share the partitions
of their subscriptions. The upstream per-topic operations (SUBSCRIBE, COMMIT, GET_OFFSET,
RESET_OFFSET, LIST_GROUPS, DESCRIBE_GROUP, GET_LAG, DELETE_GROUP, wire spec §7.8) work on top:
they see the pair (topic, group_id) as the part of the group on that topic.

Every commit and every deletion is appended to an internal :class:`StateLog`
(``groups/offsets``) before the call returns, so it survives ``kill -9``; opening replays it,
and it is compacted down to the live offsets as it grows. A logged change is
``[topic, group, partition, offset]`` (a commit) or ``[topic, group]`` (the group's offsets on
that topic deleted).

Every group id is checked against the rule of :mod:`flymq.group_ids` on the way in (the
transaction coordinator's already decided commits excepted: they were checked when the offsets
joined the transaction). One lock guards offsets and membership, so a commit is checked
against the member's generation and stored in one step: no rebalance can slip in between.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from flymq.broker.membership import GroupMembership, Limits
from flymq.broker.statelog import StateLog
from flymq.broker.storage import Flusher, LogConfig
from flymq.checks import check_int, check_partition, check_str
from flymq.clock import Clock
from flymq.errors import (ConsumerGroupNotFoundError, GroupNotEmptyError,
                          PartitionNotAssignedError)
from flymq.group_ids import validate_group_id
from flymq.models import JoinResult
from flymq.timers import TimerService

LOG_DIR = "offsets"

TopicPartition = tuple[str, int]
OffsetCommit = tuple[str, int, int]   # (topic, partition, offset)


def _change(*fields: str | int) -> bytes:
    """One logged change: ``[topic, group, partition, offset]`` commits an offset and
    ``[topic, group]`` deletes the group's offsets on that topic."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class GroupCoordinator:
    """Every consumer group of one broker; thread-safe."""

    def __init__(self, directory: Path, log_config: LogConfig, *, clock: Clock,
                 flusher: Flusher | None, timers: TimerService,
                 resolve: Callable[[Sequence[str]], dict[str, int]],
                 limits: Limits = Limits(), compact_min_records: int = 10_000):
        self._lock = threading.RLock()
        self._offsets: dict[str, dict[TopicPartition, int]] = {}
        self._subscribers: dict[tuple[str, str], set[str]] = defaultdict(set)  # SUBSCRIBE's
        self.members = GroupMembership(timers, clock.now_ms, resolve, self._locked, limits)
        self._log = StateLog(directory / LOG_DIR, name="__consumer_offsets/0",
                             log_config=log_config, clock=clock, flusher=flusher,
                             compact_min_records=compact_min_records, upserts=True)
        for change in self._log.replay():
            entry = json.loads(change)
            if len(entry) == 4:
                topic, group_id, partition, offset = entry
                self._offsets.setdefault(group_id, {})[(topic, partition)] = offset
            else:
                self._drop_topic(entry[1], entry[0])

    def _locked(self, action: Callable[[], None]) -> None:
        with self._lock:
            action()

    def _snapshot(self) -> Iterator[bytes]:
        """Every committed offset as a change: what compaction rewrites the log to."""
        return (_change(t, g, p, o) for g, offsets in self._offsets.items()
                for (t, p), o in offsets.items())

    def close(self) -> None:
        with self._lock:
            self.members.close()
            self._log.close()

    # --- the membership protocol (flymq/broker/membership.py) -------------------------------
    def join(self, group_id: str, member_id: str, owner: object, **member: object) -> JoinResult:
        validate_group_id(group_id)
        check_str("member id", member_id)
        with self._lock:
            return self.members.join(group_id, member_id, owner, **member)

    def sync(self, group_id: str, member_id: str, generation: int,
             owner: object) -> list[TopicPartition]:
        validate_group_id(group_id)
        with self._lock:
            return self.members.sync(group_id, member_id, generation, owner)

    def heartbeat(self, group_id: str, member_id: str, generation: int, owner: object) -> None:
        validate_group_id(group_id)
        with self._lock:
            self.members.heartbeat(group_id, member_id, generation, owner)

    def leave(self, group_id: str, member_id: str, owner: object) -> None:
        validate_group_id(group_id)
        with self._lock:
            self.members.leave(group_id, member_id, owner)

    def session_closed(self, session_member: str) -> None:
        """A session went away: its members leave cleanly, its SUBSCRIBE memberships end."""
        with self._lock:
            self.members.leave_all(session_member)
            for members in self._subscribers.values():
                members.discard(session_member)

    def refresh_metadata(self) -> None:
        with self._lock:
            self.members.refresh()

    # --- offsets ----------------------------------------------------------------------------
    def check_offsets(self, group_id: str, offsets: Iterable[OffsetCommit], *,
                      member_id: str = "", generation: int = -1,
                      owner: object = None) -> list[OffsetCommit]:
        """Raise unless ``member_id`` of ``generation`` may commit ``offsets`` now: it must be
        a member of the current generation that owns every partition. Without a member id the
        commit is the upstream one (no generation), refused while the group has members, so
        that no outsider moves the progress of a live group. Returns the checked offsets."""
        validate_group_id(group_id)
        checked = [(check_str("topic", t), check_partition(p), check_int("offset", o))
                   for t, p, o in offsets]
        with self._lock:
            if not member_id:
                active = self.members.active_members(group_id)
                if active:
                    raise GroupNotEmptyError(
                        group_id, active, hint="Commit as a member of the group (with its "
                        "generation), or stop the group's consumers first.")
                return checked
            group, member = self.members.member(group_id, member_id, owner)
            self.members.check_generation(group, generation)
            owned = set(member.assignment)
            for topic, partition, _ in checked:
                if (topic, partition) not in owned:
                    raise PartitionNotAssignedError(group_id, member_id, topic, partition)
        return checked

    def commit_offsets(self, group_id: str, offsets: Iterable[OffsetCommit], *,
                       member_id: str = "", generation: int = -1, owner: object = None,
                       check: bool = True) -> None:
        """Store ``offsets`` (next offset to read per partition) as one durable change: all or
        none, checked by :meth:`check_offsets` under the same lock as the write.

        The transaction coordinator's way in (``send_offsets_to_transaction``): it calls
        :meth:`check_offsets` when the offsets join the transaction, and this with
        ``check=False`` when it applies a commit decision that is already durable (also when
        rolling one forward after a restart, when the members are long gone)."""
        with self._lock:
            if check:
                offsets = self.check_offsets(group_id, offsets, member_id=member_id,
                                             generation=generation, owner=owner)
            offsets = list(offsets)
            if not offsets:
                return
            self._log.append(*(_change(t, group_id, p, o) for t, p, o in offsets))
            stored = self._offsets.setdefault(group_id, {})
            for topic, partition, offset in offsets:
                stored[(topic, partition)] = offset
            self._log.compact_if_due(self._snapshot)

    def commit(self, topic: str, group_id: str, partition: int, offset: int) -> None:
        """Upstream COMMIT: one offset without a generation; durable when this returns."""
        check_str("topic", topic)
        self.commit_offsets(group_id, [(topic, partition, offset)])

    def committed(self, topic: str, group_id: str, partition: int) -> int | None:
        """The committed offset, None when the group has none for ``partition``."""
        validate_group_id(group_id)
        with self._lock:
            return self._offsets.get(group_id, {}).get((topic, partition))

    def committed_all(self, group_id: str) -> dict[TopicPartition, int]:
        validate_group_id(group_id)
        with self._lock:
            return dict(self._offsets.get(group_id, {}))

    # --- the per-topic view of upstream's opcodes -------------------------------------------
    def subscribe(self, topic: str, group_id: str, member: str | None) -> None:
        """SUBSCRIBE's bookkeeping: (topic, group) exists in memory; ``member`` counts in it."""
        check_str("topic", topic)
        validate_group_id(group_id)
        with self._lock:
            members = self._subscribers[(topic, group_id)]
            if member is not None:
                members.add(member)

    def exists(self, topic: str, group_id: str) -> bool:
        validate_group_id(group_id)
        with self._lock:
            return self._on_topic(topic, group_id)

    def _on_topic(self, topic: str, group_id: str) -> bool:
        live = self.members.group(group_id)
        return ((topic, group_id) in self._subscribers
                or any(t == topic for t, _ in self._offsets.get(group_id, {}))
                or (live is not None and live.subscribes(topic)))

    def _topic_view(self, topic: str, group_id: str) -> dict:
        live = self.members.group(group_id)
        members = len(self._subscribers.get((topic, group_id), ()))
        if live is not None:
            members += sum(1 for m in live.members.values()
                           if any(t == topic for t, _ in m.assignment)
                           or topic in m.subscription)
        offsets = sorted((p, o) for (t, p), o in self._offsets.get(group_id, {}).items()
                         if t == topic)
        return {"topic": topic, "group_id": group_id, "members": members,
                "offsets": [{"partition": p, "offset": o} for p, o in offsets]}

    def describe(self, topic: str, group_id: str) -> dict:
        validate_group_id(group_id)
        with self._lock:
            if not self._on_topic(topic, group_id):
                raise ConsumerGroupNotFoundError(topic, group_id)
            return self._topic_view(topic, group_id)

    def list(self, topic: str = "") -> list[dict]:
        """Every (topic, group) pair (of ``topic`` when given), sorted."""
        with self._lock:
            pairs = set(self._subscribers)
            pairs.update((t, g) for g, offsets in self._offsets.items() for t, _ in offsets)
            for group in self.members.groups.values():
                pairs.update((t, group.group_id) for t in group.partitions)
            return [self._topic_view(t, g) for t, g in sorted(pairs)
                    if not topic or t == topic]

    def check_idle(self, group_id: str) -> None:
        """Resetting or deleting offsets is refused while members are active (as Kafka)."""
        validate_group_id(group_id)
        with self._lock:
            active = self.members.active_members(group_id)
            if active:
                raise GroupNotEmptyError(group_id, active)

    def delete(self, topic: str, group_id: str) -> None:
        """DELETE_GROUP: the group's offsets on ``topic`` go (refused while it has members)."""
        validate_group_id(group_id)
        with self._lock:
            if not self._on_topic(topic, group_id):
                raise ConsumerGroupNotFoundError(topic, group_id)
            self.check_idle(group_id)
            if any(t == topic for t, _ in self._offsets.get(group_id, {})):
                self._log.append(_change(topic, group_id))
            self._drop_topic(group_id, topic)
            self._subscribers.pop((topic, group_id), None)
            self._log.compact_if_due(self._snapshot)

    def _drop_topic(self, group_id: str, topic: str) -> None:
        offsets = self._offsets.get(group_id)
        if offsets is not None:
            for tp in [tp for tp in offsets if tp[0] == topic]:
                del offsets[tp]
            if not offsets:
                del self._offsets[group_id]

    # --- whole groups -----------------------------------------------------------------------
    def group_ids(self) -> list[str]:
        with self._lock:
            names = set(self._offsets) | {g for _, g in self._subscribers}
            names.update(g for g, live in self.members.groups.items() if live.members)
            return sorted(names)

    def describe_group(self, group_id: str) -> dict:
        """State, generation, protocol, members with their assignment, committed offsets."""
        validate_group_id(group_id)
        with self._lock:
            live = self.members.group(group_id)
            offsets = self._offsets.get(group_id, {})
            legacy = [t for t, g in self._subscribers if g == group_id]
            if live is None and not offsets and not legacy:
                raise ConsumerGroupNotFoundError("", group_id)
            return {
                "group_id": group_id,
                "state": live.state if live is not None else "Empty",
                "generation": live.generation if live is not None else 0,
                "protocol": live.protocol if live is not None else "",
                "leader": live.leader if live is not None else "",
                "members": [m.describe() for m in live.members.values()] if live else [],
                "offsets": [{"topic": t, "partition": p, "offset": o}
                            for (t, p), o in sorted(offsets.items())],
            }

    def delete_group(self, group_id: str) -> None:
        """Every offset of the group, on every topic (refused while it has members)."""
        validate_group_id(group_id)
        with self._lock:
            self.check_idle(group_id)
            topics = sorted({t for t, _ in self._offsets.get(group_id, {})})
            legacy = [key for key in self._subscribers if key[1] == group_id]
            if not topics and not legacy and self.members.group(group_id) is None:
                raise ConsumerGroupNotFoundError("", group_id)
            self._log.append(*(_change(t, group_id) for t in topics))
            self._offsets.pop(group_id, None)
            for key in legacy:
                del self._subscribers[key]
            self.members.groups.pop(group_id, None)
            self._log.compact_if_due(self._snapshot)
