"""Live consumer-group membership: join, sync, heartbeat, leave and generations.

Modelled on Kafka's classic group protocol, eager flavour, with the assignment computed by the
coordinator (:mod:`flymq.broker.assignors`) instead of a leader member:

* A member joins with an empty member id and gets one; every change of the membership (a
  join, a leave, a session that expired, a subscription or topic set that changed) starts a
  rebalance: the group goes to ``PreparingRebalance`` and every member must join again, which
  it does after revoking (and committing) what it owned.
* Once every member has joined again (or the rebalance timeout removed those that did not),
  the coordinator assigns the partitions, the generation goes up by one and the group is
  ``Stable``. A member learns its partitions by ``sync``. Nobody owns anything between the
  start of a rebalance and the end of the revocations, so at most one member owns a partition
  at any time.
* Offsets are committed with the member id and generation; a stale generation, an unknown
  member or a partition the member does not own is refused (:mod:`flymq.broker.groups`).

A member belongs to the session that joined it (``owner``): another session using its id is
told the member is unknown, and closing the session is a clean leave. Session timeouts run on
the broker's timers, so a ``ManualClock`` expires sessions when a test advances it.

Not thread-safe on its own: :class:`~flymq.broker.groups.GroupCoordinator` calls it under its
lock (the same lock guards committed offsets, so a commit is checked and stored atomically).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

from flymq.broker.assignors import STRATEGIES, TopicPartition, strategy_name
from flymq.models import JoinResult
from flymq.errors import (IllegalGenerationError, InconsistentGroupProtocolError,
                          InvalidRequestError, RebalanceInProgressError, UnknownMemberIdError)
from flymq.timers import Timer, TimerService

EMPTY, PREPARING, STABLE = "Empty", "PreparingRebalance", "Stable"


@dataclass
class Member:
    member_id: str
    owner: str                         # member id of the session that joined it
    client_id: str
    host: str
    subscription: tuple[str, ...]      # topic names and MQTT-style patterns
    strategies: tuple[str, ...]        # in the member's order of preference
    session_timeout_ms: int
    rebalance_timeout_ms: int
    assignment: list[TopicPartition] = field(default_factory=list)
    joined: bool = False               # has joined the rebalance in progress
    timer: Timer | None = None         # session expiry

    def describe(self) -> dict:
        return {"member_id": self.member_id, "client_id": self.client_id, "host": self.host,
                "subscription": list(self.subscription),
                "assignment": [{"topic": t, "partition": p} for t, p in self.assignment]}


@dataclass
class LiveGroup:
    group_id: str
    generation: int = 0
    state: str = EMPTY
    protocol: str = ""
    leader: str = ""
    members: dict[str, Member] = field(default_factory=dict)   # in join order
    partitions: dict[str, int] = field(default_factory=dict)   # what the assignment covers
    rebalance_timer: Timer | None = None

    def owner_of(self, topic: str, partition: int) -> str | None:
        for member in self.members.values():
            if (topic, partition) in member.assignment:
                return member.member_id
        return None

    def subscribes(self, topic: str) -> bool:
        return topic in self.partitions or any(
            topic in m.subscription for m in self.members.values())


@dataclass(frozen=True)
class Limits:
    """Bounds the broker accepts for a member's timeouts (Kafka's group.min/max.session)."""

    min_session_timeout_ms: int = 6_000
    max_session_timeout_ms: int = 1_800_000
    max_rebalance_timeout_ms: int = 3_600_000
    max_subscription: int = 1_000    # topics and patterns of one member: each is resolved
    # against every topic at each rebalance and metadata refresh, so one member must not
    # make that cost unbounded
    max_members: int = 10_000        # members of one group (Kafka's group.max.size)


class GroupMembership:
    """The live state of every group that has members of the protocol."""

    def __init__(self, timers: TimerService, now_ms: Callable[[], int],
                 resolve: Callable[[Sequence[str]], dict[str, int]],
                 run_locked: Callable[[Callable[[], None]], None], limits: Limits = Limits()):
        self._timers = timers
        self._now_ms = now_ms
        self._resolve = resolve          # subscription -> {existing topic: partition count}
        self._run_locked = run_locked    # timer callbacks run under the coordinator's lock
        self._limits = limits
        self.groups: dict[str, LiveGroup] = {}

    # --- lookups ----------------------------------------------------------------------------
    def group(self, group_id: str) -> LiveGroup | None:
        return self.groups.get(group_id)

    def active_members(self, group_id: str) -> int:
        group = self.groups.get(group_id)
        return len(group.members) if group else 0

    def member(self, group_id: str, member_id: str, owner: object) -> tuple[LiveGroup, Member]:
        """The group and member, if ``owner`` is the session that joined it."""
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group else None
        if member is None or member.owner != owner:
            raise UnknownMemberIdError(group_id, member_id)
        return group, member

    def check_generation(self, group: LiveGroup, generation: int) -> None:
        if generation != group.generation:
            raise IllegalGenerationError(group.group_id, generation, group.generation)

    # --- protocol ---------------------------------------------------------------------------
    def join(self, group_id: str, member_id: str, owner: object, *, client_id: str, host: str,
             topics: Sequence[str], strategies: Sequence[str], session_timeout_ms: int,
             rebalance_timeout_ms: int) -> JoinResult:
        """Join (``member_id`` ""), or join again after a rebalance started."""
        subscription, offered = self._checked(topics, strategies, session_timeout_ms,
                                              rebalance_timeout_ms)
        group = self.groups.get(group_id)
        if member_id:
            if group is None:
                raise UnknownMemberIdError(group_id, member_id)
            group, member = self.member(group_id, member_id, owner)
        else:
            member = None
        others = [m for m in (group.members.values() if group else ()) if m is not member]
        shared = [s for s in offered if all(s in m.strategies for m in others)]
        if not shared:
            raise InconsistentGroupProtocolError(group_id, ", ".join(offered))
        if group is None:
            group = self.groups[group_id] = LiveGroup(group_id)
        changed = member is None
        if member is None and len(group.members) >= self._limits.max_members:
            raise InvalidRequestError(
                f"invalid join: group {group_id} has {len(group.members)} members already",
                hint=f"A group holds at most {self._limits.max_members} members.")
        if member is None:
            member = Member(f"{client_id or 'consumer'}-{uuid.uuid4().hex[:16]}", owner,
                            client_id, host, subscription, offered, session_timeout_ms,
                            rebalance_timeout_ms)
            group.members[member.member_id] = member
        else:
            changed = (member.subscription, member.strategies) != (subscription, offered)
            member.subscription, member.strategies = subscription, offered
            member.session_timeout_ms = session_timeout_ms
            member.rebalance_timeout_ms = rebalance_timeout_ms
        self._touch(group, member)
        if changed:
            self._prepare(group)
        if group.state == PREPARING:
            member.joined = True
            self._complete_if_ready(group)
        generation = group.generation if group.state == STABLE else -1
        return JoinResult(member.member_id, generation, group.protocol, group.leader, group.state)

    def sync(self, group_id: str, member_id: str, generation: int,
             owner: object) -> list[TopicPartition]:
        """The member's partitions in ``generation`` (which must be the current one)."""
        group, member = self.member(group_id, member_id, owner)
        self._touch(group, member)
        if group.state == PREPARING:
            raise RebalanceInProgressError(group_id)
        self.check_generation(group, generation)
        return list(member.assignment)

    def heartbeat(self, group_id: str, member_id: str, generation: int, owner: object) -> None:
        """Keep the session; tells the member to join again when a rebalance has started."""
        group, member = self.member(group_id, member_id, owner)
        self._touch(group, member)
        if group.state == PREPARING:
            raise RebalanceInProgressError(group_id)
        self.check_generation(group, generation)

    def leave(self, group_id: str, member_id: str, owner: object) -> None:
        group, member = self.member(group_id, member_id, owner)
        self._remove(group, member)

    def leave_all(self, owner: object) -> None:
        """The owning session closed: each of its members leaves cleanly."""
        for group in list(self.groups.values()):
            for member in [m for m in group.members.values() if m.owner == owner]:
                self._remove(group, member)

    def refresh(self) -> None:
        """Topics created or deleted that change what a stable group subscribes: rebalance."""
        for group in list(self.groups.values()):
            if group.state == STABLE and group.members \
                    and self._subscribed(group) != group.partitions:
                self._prepare(group)

    def close(self) -> None:
        for group in self.groups.values():
            for member in group.members.values():
                if member.timer is not None:
                    member.timer.cancel()
            if group.rebalance_timer is not None:
                group.rebalance_timer.cancel()
        self.groups.clear()

    # --- internals --------------------------------------------------------------------------
    def _checked(self, topics: Sequence[str], strategies: Sequence[str], session_timeout_ms: int,
                 rebalance_timeout_ms: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        lim = self._limits
        if (isinstance(topics, str) or not 0 < len(topics) <= lim.max_subscription
                or not all(isinstance(t, str) and t for t in topics)):
            shown = list(topics)[:5]
            raise InvalidRequestError(
                f"invalid subscription: {shown!r}{' ...' if len(topics) > 5 else ''}",
                hint=f"Subscribe to 1 to {lim.max_subscription} topic names or patterns.")
        offered = tuple(dict.fromkeys(strategy_name(s) for s in strategies
                                      if isinstance(s, str)))
        unknown = [s for s in offered if s not in STRATEGIES]
        if not offered or unknown:
            raise InvalidRequestError(
                f"invalid assignment strategies: {list(strategies)[:5]!r}",
                hint=f"Known strategies: {', '.join(STRATEGIES)}.")
        if not isinstance(session_timeout_ms, int) or not (
                lim.min_session_timeout_ms <= session_timeout_ms <= lim.max_session_timeout_ms):
            raise InvalidRequestError(
                f"invalid session timeout: {session_timeout_ms!r} ms",
                hint=f"The broker accepts {lim.min_session_timeout_ms} to "
                     f"{lim.max_session_timeout_ms} ms.")
        if not isinstance(rebalance_timeout_ms, int) or not (
                0 < rebalance_timeout_ms <= lim.max_rebalance_timeout_ms):
            raise InvalidRequestError(
                f"invalid rebalance timeout: {rebalance_timeout_ms!r} ms",
                hint=f"max_poll_interval_ms must be from 1 to {lim.max_rebalance_timeout_ms}.")
        return tuple(dict.fromkeys(topics)), offered

    def _subscribed(self, group: LiveGroup) -> dict[str, int]:
        topics = dict.fromkeys(t for m in group.members.values() for t in m.subscription)
        return self._resolve(list(topics))

    def _touch(self, group: LiveGroup, member: Member) -> None:
        """(Re)start the member's session timer."""
        if member.timer is not None:
            member.timer.cancel()
        member.timer = self._timers.call_later(
            member.session_timeout_ms,
            lambda: self._run_locked(lambda: self._expire(group, member)))

    def _expire(self, group: LiveGroup, member: Member) -> None:
        if group.members.get(member.member_id) is member:
            self._remove(group, member)

    def _remove(self, group: LiveGroup, member: Member) -> None:
        if member.timer is not None:
            member.timer.cancel()
        del group.members[member.member_id]
        member.assignment = []
        if group.members:
            self._prepare(group)
            self._complete_if_ready(group)
        else:
            self._remove_empty(group)

    def _prepare(self, group: LiveGroup) -> None:
        """Start a rebalance: every member must join again within the rebalance timeout."""
        if group.state != PREPARING:
            group.state = PREPARING
            for member in group.members.values():
                member.joined = False
            timeout = max(m.rebalance_timeout_ms for m in group.members.values())
            group.rebalance_timer = self._timers.call_later(
                timeout, lambda: self._run_locked(lambda: self._rebalance_timed_out(group)))

    def _rebalance_timed_out(self, group: LiveGroup) -> None:
        if group.state != PREPARING or self.groups.get(group.group_id) is not group:
            return
        group.rebalance_timer = None
        for member in [m for m in group.members.values() if not m.joined]:
            if member.timer is not None:
                member.timer.cancel()
            del group.members[member.member_id]
            member.assignment = []
        if group.members:
            self._complete_if_ready(group)
        else:
            self._remove_empty(group)

    def _remove_empty(self, group: LiveGroup) -> None:
        """The last member went: the live group goes, so that groups come and go without
        piling up. A member of it that comes back is unknown, so nothing it commits counts."""
        if group.rebalance_timer is not None:
            group.rebalance_timer.cancel()
            group.rebalance_timer = None
        group.generation += 1
        group.state, group.leader, group.protocol, group.partitions = EMPTY, "", "", {}
        if self.groups.get(group.group_id) is group:
            del self.groups[group.group_id]

    def _complete_if_ready(self, group: LiveGroup) -> None:
        if group.state != PREPARING or not all(m.joined for m in group.members.values()):
            return
        if group.rebalance_timer is not None:
            group.rebalance_timer.cancel()
            group.rebalance_timer = None
        members = list(group.members.values())
        first = members[0]
        group.protocol = next(s for s in first.strategies
                              if all(s in m.strategies for m in members))
        group.partitions = self._subscribed(group)
        subscriptions = {m.member_id: self._resolve(list(m.subscription)) for m in members}
        owned = {m.member_id: m.assignment for m in members}
        assignment = STRATEGIES[group.protocol](subscriptions, group.partitions, owned)
        for member in members:
            member.assignment = assignment.get(member.member_id, [])
            member.joined = False
        group.generation += 1
        group.leader = first.member_id
        group.state = STABLE
