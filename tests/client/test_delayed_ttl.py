"""Delayed delivery and TTL on both transports, under the plugin's ManualClock
(docs/delayed-ttl.md)."""

from __future__ import annotations

import pytest

from flymq.errors import (DelayedMessageNotFoundError, InvalidRequestError,
                          OffsetOutOfRangeError, PartitionNotFoundError)
from flymq.keyhash import key_partition
from flymq.models import DelayedRecordMetadata

DAY_MS = 24 * 3600 * 1000


def values(client, topic: str, partition: int = 0) -> list[bytes]:
    return [m.data for m in client.fetch(topic, partition, 0, 10_000).messages]


# --- delayed delivery -------------------------------------------------------------------------

def test_invisible_until_due_then_exactly_once(client, flymq_clock):
    rm = client.produce_delayed("sched", b"later", delay_ms=5000)
    assert isinstance(rm, DelayedRecordMetadata)
    assert (rm.topic, rm.partition, rm.offset, rm.value_size) == ("sched", 0, 0, 5)
    assert rm.delay_id and rm.due_at == flymq_clock.now_ms() + 5000
    assert values(client, "sched") == [] and client.count_delayed("sched") == 1
    flymq_clock.advance(4999)
    assert values(client, "sched") == []
    flymq_clock.advance(1)
    assert values(client, "sched") == [b"later"]
    flymq_clock.advance(60_000)
    assert values(client, "sched") == [b"later"] and client.count_delayed("sched") == 0


def test_released_in_due_order_with_key_headers_and_partitioning(client, flymq_clock):
    client.create_topic("orders", 4)
    for delay, name in ((30, b"c"), (10, b"a"), (20, b"b")):
        client.produce_delayed("orders", name, delay, key=b"user-1", headers={"n": name.decode()})
    client.produce_delayed("orders", b"p3", 5, partition=3)
    flymq_clock.advance(15)
    p = key_partition(b"user-1", 4)
    assert values(client, "orders", p) == [b"a"] and values(client, "orders", 3) == [b"p3"]
    flymq_clock.advance(20)
    messages = client.fetch("orders", p, 0, 10).messages
    assert [(m.data, m.key, m.headers) for m in messages] == [
        (b"a", b"user-1", {"n": "a"}), (b"b", b"user-1", {"n": "b"}),
        (b"c", b"user-1", {"n": "c"})]


def test_one_ms_and_thirty_day_delays(client, flymq_clock):
    client.produce_delayed("edges", b"soon", 1)
    client.produce_delayed("edges", b"month", 30 * DAY_MS)
    flymq_clock.advance(1)
    assert values(client, "edges") == [b"soon"]
    flymq_clock.advance(30 * DAY_MS - 2)
    assert values(client, "edges") == [b"soon"]
    flymq_clock.advance(1)
    assert values(client, "edges") == [b"soon", b"month"]


def test_cancel_before_due_means_never(client, flymq_clock):
    keep = client.produce_delayed("c", b"keep", 100)
    gone = client.produce_delayed("c", b"gone", 100)
    client.cancel_delayed(gone.delay_id)
    assert [e["id"] for e in client.list_delayed("c")] == [keep.delay_id]
    flymq_clock.advance(1000)
    assert values(client, "c") == [b"keep"]
    with pytest.raises(DelayedMessageNotFoundError, match="already delivered or cancelled"):
        client.cancel_delayed(gone.delay_id)
    with pytest.raises(DelayedMessageNotFoundError, match="already delivered or cancelled"):
        client.cancel_delayed(keep.delay_id)      # after release
    for unknown in ("dly-999999", "nonsense", ""):
        with pytest.raises(DelayedMessageNotFoundError) as info:
            client.cancel_delayed(unknown)
        assert info.value.hint


def test_list_and_count_per_topic(client, flymq_clock):
    ids = [client.produce_delayed("a", b"x%d" % i, 1000 - i).delay_id for i in range(5)]
    client.produce_delayed("b", b"y", 50)
    listed = client.list_delayed("a")
    assert [e["id"] for e in listed] == ids[::-1]                    # due order
    assert [e["due_at"] for e in listed] == sorted(e["due_at"] for e in listed)
    assert client.list_delayed("a", limit=2) == listed[:2]
    assert (client.count_delayed("a"), client.count_delayed("b"),
            client.count_delayed("none")) == (5, 1, 0)
    assert client.list_delayed("none") == []
    flymq_clock.advance(997)
    assert client.count_delayed("a") == 3 and client.count_delayed("b") == 0


@pytest.mark.parametrize("delay, text", [
    (0, "invalid delay_ms: 0"), (-5, "invalid delay_ms: -5"),
    (365 * DAY_MS + 1, "delay 8760h0m0.001s exceeds maximum allowed delay 8760h0m0s"),
    ("5", "invalid delay_ms"), (1.5, "invalid delay_ms"), (True, "invalid delay_ms")])
def test_bad_delays_are_refused_and_write_nothing(client, delay, text):
    client.create_topic("bad")
    with pytest.raises(InvalidRequestError, match=text):
        client.produce_delayed("bad", b"v", delay)
    assert client.count_delayed("bad") == 0 and values(client, "bad") == []


def test_bad_partition_and_topic_are_refused_at_produce_time(client):
    client.create_topic("two", 2)
    with pytest.raises(PartitionNotFoundError):
        client.produce_delayed("two", b"v", 10, partition=2)
    with pytest.raises(InvalidRequestError):
        client.produce_delayed("bad//name", b"v", 10)
    assert client.count_delayed("two") == 0


def test_a_burst_of_due_messages_is_released_in_order(client, flymq_clock):
    for i in range(2000):
        client.produce_delayed("burst", b"%05d" % i, 100 + i % 7)
    flymq_clock.advance(200)
    got = values(client, "burst")
    assert len(got) == 2000 and len(set(got)) == 2000
    dues = [100 + int(v) % 7 for v in got]
    assert dues == sorted(dues)


# --- TTL ----------------------------------------------------------------------------------------

def test_ttl_record_is_delivered_until_it_expires(client, flymq_clock):
    live = client.produce("t", b"forever")
    rm = client.produce_with_ttl("t", b"brief", ttl_ms=30_000)
    after = client.produce("t", b"after")
    assert client.consume("t", rm).data == b"brief"
    flymq_clock.advance(30_000)
    with pytest.raises(OffsetOutOfRangeError):
        client.consume("t", rm)
    result = client.fetch("t", 0, 0, 10)
    assert [m.data for m in result.messages] == [b"forever", b"after"]
    assert result.next_offset == after.offset + 1
    skipped = client.fetch("t", 0, rm.offset, 10)           # from the expired one itself
    assert [m.offset for m in skipped.messages] == [after.offset]
    assert client.consume("t", live).data == b"forever"


def test_all_expired_head_does_not_stall_consumers(client, flymq_clock):
    for i in range(50):
        client.produce_with_ttl("head", b"old%d" % i, ttl_ms=10)
    client.produce("head", b"new")
    flymq_clock.advance(10)
    result = client.fetch("head", 0, 0, 10)
    assert [m.data for m in result.messages] == [b"new"] and result.next_offset == 51
    with client.consumer("head", "g") as consumer:
        assert [m.data for m in consumer.poll(timeout_ms=2000)] == [b"new"]


def test_high_level_consumer_never_yields_expired(client, flymq_clock):
    client.create_topic("hl", 2)
    client.produce_with_ttl("hl", b"x", 100)
    client.produce("hl", b"y", partition=1)
    flymq_clock.advance(100)
    with client.consumer("hl", "g") as consumer:
        got = []
        for message in consumer:
            got.append(message.data)
            break
    assert got == [b"y"]


def test_topic_default_ttl(client, flymq_clock):
    client.create_topic("ttl-topic", config={"ttl_ms": 1000})
    client.produce("ttl-topic", b"a")
    flymq_clock.advance(999)
    assert values(client, "ttl-topic") == [b"a"]
    flymq_clock.advance(1)
    assert values(client, "ttl-topic") == []
    client.produce_with_ttl("ttl-topic", b"own", 5000)   # its own TTL wins over the topic's
    flymq_clock.advance(2000)
    assert values(client, "ttl-topic") == [b"own"]


@pytest.mark.parametrize("ttl", [0, -1, 10 * 365 * DAY_MS + 1, "1"])
def test_bad_ttls_are_refused_and_write_nothing(client, ttl):
    client.create_topic("bad-ttl")
    with pytest.raises(InvalidRequestError, match="invalid ttl_ms"):
        client.produce_with_ttl("bad-ttl", b"v", ttl)
    assert client.partition_offsets("bad-ttl", 0) == (0, 0)


def test_topic_ttl_over_the_maximum_is_refused_and_creates_nothing(client):
    longest = 10 * 365 * DAY_MS   # BrokerConfig.max_ttl_ms
    with pytest.raises(InvalidRequestError) as by_produce:
        client.produce_with_ttl("other", b"v", longest + 1)
    with pytest.raises(InvalidRequestError) as by_topic:
        client.create_topic("cache", config={"ttl_ms": longest + 1})
    assert str(by_topic.value) == str(by_produce.value)   # the same clear error
    assert "cache" not in client.list_topics()
    client.create_topic("cache", config={"ttl_ms": longest})   # the maximum itself is fine
    assert "cache" in client.list_topics()
