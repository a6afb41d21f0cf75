"""Delayed messages, TTL and dead-letter state across restarts, and the TTL cleanup
(docs/delayed-ttl.md); the kill -9 matrix is in test_delayed_crash.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.clock import ManualClock
from flymq.errors import InvalidRequestError
from flymq.topic_config import TopicConfig


def values(b: Broker, topic: str, partition: int = 0) -> list[bytes]:
    """Every record still delivered, from the log start (retention may have moved it)."""
    start = b.offsets(topic, partition)[0]
    return [m.data for m in b.fetch(topic, partition, start, 10_000).messages]


def reopen(data_dir: Path, clock: ManualClock) -> Broker:
    return Broker(data_dir, BrokerConfig(fsync="never"), clock=clock)


def test_pending_delays_survive_restart_and_are_released_once(data_dir, clock):
    with reopen(data_dir, clock) as b:
        b.produce_delayed("t", b"a", 1000)
        b.produce_delayed("t", b"b", 5000)
        b.cancel_delayed(b.produce_delayed("t", b"c", 3000).delay_id)
        clock.advance(1000)
        assert values(b, "t") == [b"a"]
    with reopen(data_dir, clock) as b:
        assert b.count_delayed("t") == 1 and b.list_delayed("t")[0]["due_at"] == \
            clock.now_ms() + 4000
        clock.advance(4000)
        assert values(b, "t") == [b"a", b"b"]
    with reopen(data_dir, clock) as b:
        clock.advance(10_000)
        assert values(b, "t") == [b"a", b"b"] and b.count_delayed() == 0


def test_messages_due_while_the_broker_was_down_come_at_start(data_dir, clock):
    with reopen(data_dir, clock) as b:
        for i in range(10):
            b.produce_delayed("down", b"%d" % i, 100 + i)
    clock.advance(60_000)          # the broker is closed meanwhile
    with reopen(data_dir, clock) as b:
        clock.advance(0)           # runs the timers that were due at start
        assert values(b, "down") == [b"%d" % i for i in range(10)]


def test_index_compaction_keeps_pending_and_sequences(data_dir, clock):
    with reopen(data_dir, clock) as b:
        b._delays._state.log._compact_at = 50    # compact often
        for i in range(400):
            b.produce_delayed("k", b"%d" % i, 10 + i % 20)
            if i % 40 == 39:
                clock.advance(15)
    with reopen(data_dir, clock) as b:
        clock.advance(1000)
        got = values(b, "k")
        assert sorted(got, key=int) == [b"%d" % i for i in range(400)]


def test_delivered_payloads_are_deleted_by_retention(data_dir, clock):
    with reopen(data_dir, clock) as b:
        b.create_topic("__delayed", config=TopicConfig(segment_bytes=1024))  # small segments
        for i in range(100):
            b.produce_delayed("r", b"x" * 100, 10)
        clock.advance(10)
        assert b.count_delayed() == 0
        b.apply_retention()
        start, end = b.offsets("__delayed", 0)
        assert end == 100 and start > 50


def test_ttl_after_restart_and_cleanup_counts(data_dir, clock):
    with reopen(data_dir, clock) as b:
        b.create_topic("e", config=TopicConfig(segment_bytes=1024))
        for i in range(100):
            b.produce_with_ttl("e", b"y" * 60, 1000)
        b.produce("e", b"live")
    with reopen(data_dir, clock) as b:
        assert len(values(b, "e")) == 101
        clock.advance(1000)
        assert values(b, "e") == [b"live"]
        b.apply_retention()
        assert b.expired_removed > 50
        assert b.offsets("e", 0)[0] == b.expired_removed
        assert b.remove_expired() == 0           # nothing more: no rescan cost either
    with reopen(data_dir, clock) as b:
        assert values(b, "e") == [b"live"]


def test_replayed_entries_stay_removed_after_restart(data_dir, clock):
    with reopen(data_dir, clock) as b:
        for i in range(3):
            b.produce("d", b"%d" % i)
            b.dead_letter("d", 0, i)
        b.re_inject_dlq("d", 1)
    with reopen(data_dir, clock) as b:
        assert [e.offset for e in b.fetch_dlq("d")] == [0, 2]
        b.purge_dlq("d")
        b.produce("d", b"again")
        b.dead_letter("d", 0, 4)
        assert [e.offset for e in b.fetch_dlq("d")] == [0]


def test_delayed_produce_into_a_transaction_is_refused(broker):
    with pytest.raises(InvalidRequestError, match="transaction"):
        broker.produce_delayed("t", b"v", 10, transaction_id="txn-1")
    assert broker.count_delayed() == 0


def test_an_unused_scheduler_creates_no_logs(data_dir, clock):
    with reopen(data_dir, clock) as b:
        b.produce("t", b"plain")
    with reopen(data_dir, clock) as b:
        assert b.count_delayed() == 0
        assert "__delayed" not in b.list_topics(include_internal=True)
    assert not (data_dir / "delayed").exists() and not (data_dir / "dead-letters").exists()
