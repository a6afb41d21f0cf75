"""The group coordinator's membership protocol and the assignment strategies, embedded and
under the manual clock (the client side runs on both transports in
tests/client/test_group_membership.py)."""

from __future__ import annotations

import itertools

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.broker.assignors import STRATEGIES, assign_range, assign_sticky, strategy_name
from flymq.errors import (GroupNotEmptyError, IllegalGenerationError, InvalidRequestError,
                          UnknownMemberIdError)
from tests.broker.test_broker_crash import run_until_killed

JOIN = dict(topics=["t"], session_timeout_ms=6000, rebalance_timeout_ms=3000)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("members,partitions", [(1, 1), (3, 6), (4, 6), (5, 3), (7, 60)])
def test_every_strategy_gives_each_partition_to_exactly_one_member(name, members, partitions):
    subs = {f"m{i}": ["a", "b"] for i in range(members)}
    result = STRATEGIES[name](subs, {"a": partitions, "b": 2}, {})
    owned = [tp for parts in result.values() for tp in parts]
    assert sorted(owned) == sorted([("a", p) for p in range(partitions)] + [("b", 0), ("b", 1)])
    sizes = sorted(len(parts) for parts in result.values())
    if name != "range":   # range balances per topic, the others overall
        assert sizes[-1] - sizes[0] <= 1


def test_range_respects_subscriptions():
    result = assign_range({"m1": ["a"], "m2": ["a", "b"]}, {"a": 2, "b": 2})
    assert result == {"m1": [("a", 0)], "m2": [("a", 1), ("b", 0), ("b", 1)]}


def test_sticky_keeps_owned_partitions_while_balanced():
    before = assign_sticky({m: ["t"] for m in ("a", "b", "c")}, {"t": 9})
    after = assign_sticky({m: ["t"] for m in ("a", "b", "c", "d")}, {"t": 9}, before)
    moved = sum(1 for m in "abc" for tp in before[m] if tp not in after[m])
    assert moved == 2 and len(after["d"]) == 2


def test_strategy_names_are_canonical():
    assert strategy_name("round-robin") == strategy_name("RoundRobin") == "roundrobin"
    assert strategy_name("cooperative-sticky") == "cooperative-sticky"   # unknown: unchanged


@pytest.fixture
def broker(tmp_path, flymq_clock):
    with Broker(tmp_path / "data", BrokerConfig(fsync="never"), clock=flymq_clock) as b:
        b.create_topic("t", 4)
        yield b


def test_a_member_that_does_not_join_again_is_dropped_after_the_rebalance_timeout(
        broker, flymq_clock):
    one, two, three = (broker.open_session(client_id=f"h:{i}") for i in range(3))
    a = one.join_group("g", **JOIN)
    b = two.join_group("g", **JOIN)
    a = one.join_group("g", a.member_id, **JOIN)
    assert a.generation == 2
    c = three.join_group("g", **JOIN)          # starts a rebalance; b never answers it
    assert c.generation == -1
    one.join_group("g", a.member_id, **JOIN)
    flymq_clock.advance(3000)                   # the rebalance timeout (max_poll_interval)
    state = broker.describe_group("g")
    assert state["state"] == "Stable" and state["generation"] == 3
    assert sorted(m["member_id"] for m in state["members"]) == sorted([a.member_id,
                                                                        c.member_id])
    with pytest.raises(UnknownMemberIdError):
        two.heartbeat("g", b.member_id, 2)


def test_closing_the_session_is_a_clean_leave(broker):
    one, two = broker.open_session(client_id="h:1"), broker.open_session(client_id="h:2")
    a = one.join_group("g", **JOIN)
    b = two.join_group("g", **JOIN)
    two.close()
    assert broker.describe_group("g")["members"][0]["member_id"] == a.member_id
    again = one.join_group("g", a.member_id, **JOIN)
    assert again.generation == 2 and one.sync_group("g", a.member_id, 2) == [
        ("t", p) for p in range(4)]
    with pytest.raises(UnknownMemberIdError):
        broker.heartbeat("g", b.member_id, 2, owner=two.member_id)


def test_group_commits_are_durable_and_atomic(tmp_path, flymq_clock):
    config = BrokerConfig(fsync="never")
    with Broker(tmp_path, config, clock=flymq_clock) as b:
        b.create_topic("t", 4)
        session = b.open_session()
        joined = session.join_group("g", **JOIN)
        session.commit_group_offsets("g", [("t", p, 10 + p) for p in range(4)],
                                     member_id=joined.member_id, generation=1)
        with pytest.raises(IllegalGenerationError):   # nothing of a refused batch is stored
            session.commit_group_offsets("g", [("t", 0, 99)], member_id=joined.member_id,
                                         generation=7)
        with pytest.raises(GroupNotEmptyError):
            b.delete_group("g")
    with Broker(tmp_path, config, clock=flymq_clock) as b:
        assert b.fetch_group_offsets("g") == {("t", p): 10 + p for p in range(4)}
        assert b.describe_consumer_group("t", "g")["offsets"][0] == {"partition": 0,
                                                                     "offset": 10}


def test_a_thousand_joins_and_leaves_leave_nothing_behind(broker):
    sessions = [broker.open_session(client_id=f"h:{i}") for i in range(20)]
    for session in itertools.islice(itertools.cycle(sessions), 1000):
        joined = session.join_group("g", **JOIN)
        session.leave_group("g", joined.member_id)
    assert "g" not in broker.list_groups()      # an empty live group does not linger


MEMBER = """
    import sys
    from flymq.broker import Broker, BrokerConfig
    b = Broker(sys.argv[1], BrokerConfig(fsync=sys.argv[2]))
    b.create_topic("t", 4)
    s = b.open_session()
    j = s.join_group("g", topics=["t"], session_timeout_ms=6000)
    i = 0
    while True:
        i += 1
        s.commit_group_offsets("g", [("t", p, i) for p in range(4)], member_id=j.member_id,
                               generation=j.generation)
        print(i, flush=True)
"""


@pytest.mark.parametrize("fsync", ["interval", "always"])
def test_a_members_commits_survive_sigkill_whole(tmp_path, fsync):
    last = int(run_until_killed(MEMBER, str(tmp_path), fsync, acks=200)[-1])
    with Broker(tmp_path, BrokerConfig(fsync="never")) as b:
        offsets = b.fetch_group_offsets("g")
    assert len(set(offsets.values())) == 1   # each commit is one batch: all four or none
    assert offsets[("t", 0)] >= last


def test_a_member_cannot_make_rebalances_unbounded(broker):
    session = broker.open_session()
    with pytest.raises(InvalidRequestError, match="subscription"):
        session.join_group("g", topics=[f"t{i}" for i in range(1001)], session_timeout_ms=6000)
