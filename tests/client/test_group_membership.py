"""Consumer groups with membership, rebalancing and generations, on both transports, under the
manual clock (docs/consumers.md).

Every consumer here runs on a ManualClock of its own that ``Group.advance`` moves together
with the broker's; a "killed" consumer is one whose clock and polls stop while its
connection stays open, as a frozen process: its session expires on the broker.
"""

from __future__ import annotations

from collections import Counter

import pytest

from flymq import ConsumerConfig, FlyMQClient, HighLevelConsumer
from flymq.client.local import LocalTransport
from flymq.clock import ManualClock
from flymq.errors import (ConsumerGroupNotFoundError, GroupNotEmptyError,
                          IllegalGenerationError, InconsistentGroupProtocolError,
                          InvalidRequestError, PartitionNotAssignedError,
                          RebalanceInProgressError, UnknownMemberIdError)

SESSION_MS, HEARTBEAT_MS = 6000, 1000


class Member:
    """One consumer of the group with its own client, clock and record of what it read."""

    def __init__(self, group: "Group", name: str, topics, **config):
        self.name, self.group = name, group
        self.clock = ManualClock(group.clock.now_ms())
        self.client = group.new_client(client_id=name)
        self.events: list[tuple[str, list]] = []
        settings = dict(group_id=group.group_id, auto_offset_reset="earliest",
                        enable_auto_commit=False, session_timeout_ms=SESSION_MS,
                        heartbeat_interval_ms=HEARTBEAT_MS)
        settings.update(config)
        self.consumer = HighLevelConsumer(
            self.client, topics, group.group_id, ConsumerConfig(**settings), clock=self.clock,
            on_assign=lambda parts: self.events.append(("assign", sorted(parts))),
            on_revoke=self._revoked,
            on_lost=lambda parts: self.events.append(("lost", sorted(parts))))

    def _revoked(self, parts) -> None:
        self.events.append(("revoke", sorted(parts)))
        self.consumer.commit()   # what was processed stays processed

    def poll(self) -> None:
        for message in self.consumer.poll(timeout_ms=0):
            self.group.seen[(message.topic, message.partition, message.offset)] += 1


class Group:
    def __init__(self, new_client, broker_clock: ManualClock, group_id: str = "g"):
        self.new_client, self.clock, self.group_id = new_client, broker_clock, group_id
        self.live: list[Member] = []
        self.seen: Counter = Counter()

    def join(self, name: str, topics=("t",), **config) -> Member:
        member = Member(self, name, list(topics), **config)
        self.live.append(member)
        return member

    def advance(self, ms: int = HEARTBEAT_MS) -> None:
        self.clock.advance(ms)
        for member in self.live:
            member.clock.advance(ms)

    def step(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            for member in self.live:
                member.poll()

    def settle(self, admin) -> dict:
        """Move time and poll until every live member holds its share of a stable group."""
        for _ in range(30):
            self.step()
            state = admin.describe_group(self.group_id)
            owned = [tp for m in self.live for tp in m.consumer.assignment()]
            if (state["state"] == "Stable" and len(state["members"]) == len(self.live)
                    and len(owned) == len(set(owned)) and not any(
                        m.consumer._members.waiting for m in self.live)):
                return state
            self.advance()
        raise AssertionError(f"the group did not settle: {admin.describe_group(self.group_id)}")

    def owners(self) -> dict:
        return {tp: m.name for m in self.live for tp in m.consumer.assignment()}


def _produce(client, n, topic="t", partitions=6, start=0):
    for i in range(start, start + n):
        client.produce(topic, f"m{i}", partition=i % partitions)


def _assert_exactly_once(group: Group, admin, total: int, topic: str = "t") -> None:
    group.step(5)
    duplicates = {k: v for k, v in group.seen.items() if v > 1}
    assert not duplicates
    assert len(group.seen) == total
    ends = sum(admin.partition_offsets(topic, p)[1] for p in range(6))
    assert ends == total


def test_three_members_share_six_partitions_exactly_once_through_join_leave_and_kill(
        new_client, flymq_clock):
    admin = new_client()
    admin.create_topic("t", partitions=6)
    group = Group(new_client, flymq_clock)
    _produce(admin, 600)
    a = group.join("a")
    group.settle(admin)
    assert sorted(a.consumer.assignment()) == [("t", p) for p in range(6)]
    group.step(2)
    b = group.join("b")
    state = group.settle(admin)
    assert len(a.consumer.assignment()) == len(b.consumer.assignment()) == 3
    assert state["generation"] == 2 and state["protocol"] == "range"
    _produce(admin, 900, start=600)
    group.step(2)
    c = group.join("c")
    group.settle(admin)
    assert sorted(len(m.consumer.assignment()) for m in group.live) == [2, 2, 2]
    _produce(admin, 900, start=1500)
    group.step(2)

    group.live.remove(b)
    b.consumer.close()          # a clean leave: the others rebalance at once
    group.settle(admin)
    assert sorted(len(m.consumer.assignment()) for m in group.live) == [3, 3]
    _produce(admin, 300, start=2400)
    group.step(2)

    c.consumer.commit()         # c crashes right after a commit...
    group.live.remove(c)        # ...and freezes: no polls, no heartbeats
    expired_after = 0
    while any(m["client_id"] == "c" for m in admin.describe_group("g")["members"]):
        group.advance()
        group.step(1)
        expired_after += HEARTBEAT_MS
    assert SESSION_MS - HEARTBEAT_MS <= expired_after <= SESSION_MS + HEARTBEAT_MS
    group.settle(admin)
    assert sorted(a.consumer.assignment()) == [("t", p) for p in range(6)]
    _produce(admin, 300, start=2700)
    _assert_exactly_once(group, admin, 3000)
    assert ("revoke", [("t", p) for p in range(6)]) in a.events
    with pytest.raises(UnknownMemberIdError):   # the frozen member wakes up: it was expired
        c.client.heartbeat("g", c.consumer._members.member_id, c.consumer._members.generation)


def test_a_fourth_member_mid_way_with_sticky_assignment_moves_only_what_it_must(
        new_client, flymq_clock):
    admin = new_client()
    admin.create_topic("t", partitions=6)
    group = Group(new_client, flymq_clock)
    _produce(admin, 1200)
    for name in "abc":
        group.join(name, partition_assignment_strategy="sticky")
        group.settle(admin)
    group.step(2)
    before = group.owners()
    group.join("d", partition_assignment_strategy=["sticky", "range"])
    state = group.settle(admin)
    assert state["protocol"] == "sticky"
    after = group.owners()
    moved = [tp for tp in after if before[tp] != after[tp]]
    assert moved and all(after[tp] == "d" for tp in moved)
    assert len(moved) == 1   # 2,2,2 -> 2,2,1,1: d takes one partition, the rest stay
    assert sorted(len(m.consumer.assignment()) for m in group.live) == [1, 1, 2, 2]
    _produce(admin, 1200, start=1200)
    _assert_exactly_once(group, admin, 2400)


def test_roundrobin_spreads_partitions_of_several_topics(new_client, flymq_clock):
    admin = new_client()
    for topic in ("x", "y"):
        admin.create_topic(topic, partitions=1)
    group = Group(new_client, flymq_clock)
    for name in "ab":
        group.join(name, topics=("x", "y"), partition_assignment_strategy="roundrobin")
    group.settle(admin)
    assert sorted(map(len, (m.consumer.assignment() for m in group.live))) == [1, 1]


def test_a_restarted_consumer_resumes_from_the_groups_commits(new_client, flymq_clock):
    admin = new_client()
    admin.create_topic("t", partitions=6)
    _produce(admin, 60)
    group = Group(new_client, flymq_clock)
    first = group.join("a")
    group.step(1)
    first.consumer.commit()
    first.consumer.close()
    group.live.remove(first)
    _produce(admin, 60, start=60)
    group.join("b")
    group.settle(admin)
    group.step(3)
    assert len(group.seen) == 120 and max(group.seen.values()) == 1


def test_wildcard_subscriptions_pick_up_new_topics_and_drop_deleted_ones(new_client,
                                                                           flymq_clock):
    admin = new_client()
    admin.create_topic("sensors/a", partitions=2)
    group = Group(new_client, flymq_clock)
    member = group.join("a", topics=("sensors/#",))
    group.settle(admin)
    assert sorted(member.consumer.assignment()) == [("sensors/a", 0), ("sensors/a", 1)]
    admin.create_topic("sensors/b", partitions=1)
    admin.produce("sensors/b", "hello", partition=0)
    group.advance()            # the coordinator's metadata refresh (1 s) sees the new topic
    group.settle(admin)
    assert ("sensors/b", 0) in member.consumer.assignment()
    group.step(2)
    assert ("sensors/b", 0, 0) in group.seen
    admin.delete_topic("sensors/a")
    group.advance()
    group.settle(admin)
    assert member.consumer.assignment() == [("sensors/b", 0)]


def test_stale_generations_unknown_members_and_outsiders_are_refused(new_client, flymq_clock):
    admin = new_client()
    admin.create_topic("t", partitions=2)
    one, two, outsider = new_client(), new_client(), new_client()
    first = one.join_group("g", topics=["t"], session_timeout_ms=SESSION_MS)
    assert first.generation == 1 and first.state == "Stable"
    assert one.sync_group("g", first.member_id, 1) == [("t", 0), ("t", 1)]
    one.commit_group_offsets("g", [("t", 0, 1)], member_id=first.member_id, generation=1)

    second = two.join_group("g", topics=["t"], session_timeout_ms=SESSION_MS)
    assert second.generation == -1 and second.state == "PreparingRebalance"
    with pytest.raises(RebalanceInProgressError):
        one.heartbeat("g", first.member_id, 1)
    # during the rebalance the old generation may still commit what it owns (on_revoke)
    one.commit_group_offsets("g", [("t", 1, 1)], member_id=first.member_id, generation=1)
    again = one.join_group("g", first.member_id, topics=["t"], session_timeout_ms=SESSION_MS)
    assert again.generation == 2
    with pytest.raises(IllegalGenerationError) as stale:
        one.commit_group_offsets("g", [("t", 0, 2)], member_id=first.member_id, generation=1)
    assert "illegal generation: 1 in group g (current 2)" in str(stale.value)
    (mine,) = one.sync_group("g", first.member_id, 2)
    (theirs,) = two.sync_group("g", second.member_id, 2)
    assert mine != theirs
    with pytest.raises(PartitionNotAssignedError):   # the other member's now
        one.commit_group_offsets("g", [(*theirs, 5)], member_id=first.member_id, generation=2)
    with pytest.raises(UnknownMemberIdError):         # another connection posing as it
        outsider.commit_group_offsets("g", [("t", 0, 9)], member_id=first.member_id,
                                      generation=2)
    with pytest.raises(UnknownMemberIdError):
        outsider.heartbeat("g", "nobody", 2)
    with pytest.raises(GroupNotEmptyError):           # upstream COMMIT into a live group
        outsider.commit_offset("t", "g", 0, 99)
    assert admin.fetch_group_offsets("g") == {("t", 0): 1, ("t", 1): 1}   # nothing moved

    flymq_clock.advance(SESSION_MS)   # neither heartbeats: both sessions expire
    with pytest.raises(UnknownMemberIdError):
        one.heartbeat("g", first.member_id, 2)
    assert admin.describe_group("g")["state"] == "Empty"


def test_bad_join_requests_get_clear_errors(new_client):
    client, other = new_client(), new_client()
    with pytest.raises(InvalidRequestError, match="session timeout"):
        client.join_group("g", topics=["t"], session_timeout_ms=10)
    with pytest.raises(InvalidRequestError, match="session timeout"):
        client.join_group("g", topics=["t"], session_timeout_ms=10**9)
    with pytest.raises(InvalidRequestError, match="assignment strategies"):
        client.join_group("g", topics=["t"], strategies=["mystery"], session_timeout_ms=6000)
    with pytest.raises(InvalidRequestError, match="subscription"):
        client.join_group("g", topics=[], session_timeout_ms=6000)
    client.join_group("g", topics=["t"], strategies=["range"], session_timeout_ms=6000)
    with pytest.raises(InconsistentGroupProtocolError):
        other.join_group("g", topics=["t"], strategies=["sticky"], session_timeout_ms=6000)
    with pytest.raises(UnknownMemberIdError):
        other.join_group("g", "made-up", topics=["t"], session_timeout_ms=6000)
    with pytest.raises(ConsumerGroupNotFoundError):
        client.describe_group("no-such-group")


def test_lag_and_group_admin(new_client, flymq_clock):
    admin = new_client()
    admin.create_topic("t", partitions=2)
    group = Group(new_client, flymq_clock)
    member = group.join("a", max_poll_records=3)
    group.settle(admin)
    _produce(admin, 10, partitions=2)
    member.poll()
    member.consumer.commit()
    described = admin.describe_group("g")
    assert described["state"] == "Stable" and described["generation"] == 1
    assert described["protocol"] == "range"
    (entry,) = described["members"]
    assert entry["client_id"] == "a" and entry["host"]
    assert sorted((a["topic"], a["partition"]) for a in entry["assignment"]) == [("t", 0),
                                                                                 ("t", 1)]
    committed = {(o["topic"], o["partition"]): o for o in described["offsets"]}
    total_lag = sum(o["lag"] for o in committed.values()) + sum(
        5 for tp in [("t", 0), ("t", 1)] if tp not in committed)
    assert total_lag == 10 - 3
    for (topic, partition), o in committed.items():
        lag = admin.get_lag(topic, "g", partition)
        assert lag["lag"] == o["lag"] == o["latest_offset"] - o["offset"]
    assert "g" in admin.list_groups()
    (listed,) = admin.list_consumer_groups("t")
    assert listed["group_id"] == "g" and listed["members"] == 1
    with pytest.raises(GroupNotEmptyError):
        admin.reset_offset_to_earliest("t", "g", 0)
    with pytest.raises(GroupNotEmptyError):
        admin.delete_consumer_group("t", "g")
    with pytest.raises(GroupNotEmptyError):
        admin.delete_group("g")
    member.consumer.close()
    admin.reset_offset("t", "g", 0, "offset", 4)
    assert admin.get_committed_offset("t", "g", 0) == 4
    admin.delete_group("g")
    assert "g" not in admin.list_groups()


def test_seek_pause_resume_and_position_in_a_group(new_client, flymq_clock):
    admin = new_client()
    admin.create_topic("t", partitions=2)
    group = Group(new_client, flymq_clock)
    member = group.join("a")
    group.settle(admin)
    _produce(admin, 10, partitions=2)
    consumer = member.consumer
    consumer.pause(0)
    assert consumer.paused() == [("t", 0)]
    got = consumer.poll(timeout_ms=0)
    assert {m.partition for m in got} == {1}
    consumer.resume(0)
    consumer.seek(0, 3)
    assert consumer.position(0) == 3
    assert [m.offset for m in consumer.poll(timeout_ms=0) if m.partition == 0] == [3, 4]
    consumer.seek_to_beginning(1)
    assert consumer.position(1) == 0
    consumer.seek_to_end()
    assert consumer.position(0) == consumer.position(1) == 5


def test_latest_on_an_empty_partition_starts_at_zero(new_client, flymq_clock):
    admin = new_client()
    admin.create_topic("t", partitions=1)
    group = Group(new_client, flymq_clock)
    member = group.join("a", auto_offset_reset="latest")
    group.settle(admin)
    assert member.consumer.position(0) == 0
    admin.produce("t", "first", partition=0)
    group.step(1)
    assert ("t", 0, 0) in group.seen


def test_a_consumer_that_stops_polling_leaves_after_max_poll_interval(new_client,
                                                                      flymq_clock):
    admin = new_client()
    admin.create_topic("t", partitions=2)
    group = Group(new_client, flymq_clock)
    slow = group.join("slow", max_poll_interval_ms=3000)
    group.settle(admin)
    for _ in range(4):         # no polls meanwhile
        group.advance()
    assert "g" not in admin.list_groups()   # it left (the group is gone); no session wait
    slow.poll()                        # the next poll: partitions lost, then joined again
    assert slow.events[-2][0] == "lost"
    assert sorted(slow.consumer.assignment()) == [("t", 0), ("t", 1)]


class _UpstreamLike(LocalTransport):
    """An embedded transport that, like an upstream server, serves no group membership."""

    def supports(self, feature: str) -> bool:
        return feature != "groups" and super().supports(feature)

    def join_group(self, *args, **kwargs):
        raise AssertionError("single-member mode must not join")


def test_against_a_server_without_groups_one_consumer_reads_every_partition(flymq_broker):
    client = FlyMQClient(transport=_UpstreamLike(flymq_broker))
    client.create_topic("logs/a", partitions=2)
    _produce(client, 4, topic="logs/a", partitions=2)
    clock = ManualClock()
    consumer = HighLevelConsumer(client, ["logs/#"], "g", ConsumerConfig(
        group_id="g", auto_offset_reset="earliest", metadata_max_age_ms=1000), clock=clock)
    assert len(consumer.poll(timeout_ms=0)) == 4
    client.create_topic("logs/b", partitions=1)
    client.produce("logs/b", "late", partition=0)
    clock.advance(1000)       # the consumer resolves its patterns again
    assert [m.topic for m in consumer.poll(timeout_ms=0)] == ["logs/b"]
    consumer.close()          # auto-commit with upstream's COMMIT
    assert client.get_committed_offset("logs/b", "g", 0) == 1
    client.close()


def test_consume_transform_produce_commits_offsets_of_a_live_group_with_the_transaction(
        new_client, flymq_clock):
    """Exactly once: the consumed positions of a member are committed by its transaction."""
    admin = new_client()
    admin.create_topic("in", partitions=1)
    _produce(admin, 3, topic="in", partitions=1)
    group = Group(new_client, flymq_clock)
    member = group.join("a", topics=("in",))
    group.settle(admin)
    out = member.client
    txn = out.begin_transaction()
    for message in member.consumer.poll(timeout_ms=0):
        txn.produce("out", message.value.upper())
    txn.send_offsets_to_transaction({("in", 0): 3}, "g")
    assert admin.fetch_group_offsets("g") == {}   # not before the commit
    txn.commit()
    assert admin.fetch_group_offsets("g") == {("in", 0): 3}
