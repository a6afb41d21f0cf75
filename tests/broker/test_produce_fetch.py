"""Produce, consume and fetch semantics (wire spec §6.1, §7.2, §7.6, §7.10)."""

from __future__ import annotations

from datetime import datetime

import pytest

from flymq.broker import Broker
from flymq.broker.appends import AppendRequest
from flymq.broker import partition
from flymq.broker.partition import SCAN_LIMIT
from flymq.clock import ManualClock
from flymq.errors import (
    MessageTooLargeError, OffsetOutOfRangeError, PartitionNotFoundError, TopicNotFoundError,
)
from flymq.keyhash import fnv1a_32
from flymq.models import RecordMetadata, RecordMetadataList


def test_record_metadata(broker: Broker, clock: ManualClock) -> None:
    md = broker.produce("t", b"value", key=b"key")
    assert isinstance(md, RecordMetadata) and md == 0
    assert (md.topic, md.partition, md.offset, md.timestamp, md.key_size, md.value_size) == \
        ("t", 0, 0, clock.now_ms(), 3, 5)
    assert broker.produce("t", b"v", key=b"").key_size == -1
    assert broker.produce("t", b"v").key_size == -1


def test_keys_choose_partitions_by_fnv1a(broker: Broker) -> None:
    broker.create_topic("t", 6)
    for key in [b"a", b"key", b"user-123", b"user-456", b"order-1"]:
        assert broker.produce("t", b"v", key=key).partition == fnv1a_32(key) % 6


def test_unkeyed_round_robin_and_explicit_partitions(broker: Broker) -> None:
    broker.create_topic("t", 3)
    assert [broker.produce("t", b"v").partition for _ in range(4)] == [0, 1, 2, 0]
    assert broker.produce("t", b"v", key=b"user-123", partition=2).partition == 2
    with pytest.raises(PartitionNotFoundError) as info:
        broker.produce("t", b"v", partition=3)
    assert info.value.wire == "partition 3 out of range"
    assert broker.produce("t", b"v", partition=-7).partition == 1  # negative: broker chooses


def test_values_are_copied_and_typed(broker: Broker) -> None:
    buf = bytearray(b"abc")
    broker.produce("t", buf, key=memoryview(b"k"))
    buf[0] = ord("X")
    msg = broker.consume("t", 0, 0)
    assert msg.data == b"abc" and type(msg.data) is bytes and msg.key == b"k"
    with pytest.raises(TypeError):
        broker.produce("t", "text")  # type: ignore[arg-type]


def test_message_size_limit(data_dir) -> None:
    from flymq.broker import BrokerConfig
    with Broker(data_dir, BrokerConfig(max_message_bytes=10, fsync="never")) as b:
        b.produce("t", b"x" * 10)
        with pytest.raises(MessageTooLargeError):
            b.produce("t", b"x" * 8, key=b"abc")
        with pytest.raises(MessageTooLargeError):
            b.produce_batch("t", [(None, b"ok", -1), (None, b"x" * 11, -1)])
        assert b.offsets("t", 0) == (0, 1)


def test_consume_errors_follow_the_wire_texts(broker: Broker) -> None:
    broker.create_topic("t", 2)
    broker.produce("t", b"v", partition=0)
    with pytest.raises(TopicNotFoundError) as info:
        broker.consume("missing", 0, 0)
    assert info.value.wire == "topic not found"
    for bad in (-1, 2):
        with pytest.raises(PartitionNotFoundError) as pinfo:
            broker.consume("t", bad, 0)
        assert pinfo.value.wire == f"partition {bad} out of range"
    with pytest.raises(OffsetOutOfRangeError) as oinfo:
        broker.consume("t", 0, 1)
    assert oinfo.value.wire == "EOF" and oinfo.value.end == 1
    with pytest.raises(OffsetOutOfRangeError):
        broker.consume("t", 0, -1)


def test_headers_and_timestamps_are_kept(broker: Broker, clock: ManualClock) -> None:
    broker.produce("t", b"v", headers={"trace": "abc", "n": "1"}, timestamp=1_600_000_000_000)
    broker.produce("t", b"w")
    first, second = broker.fetch("t", 0, 0, 10).messages
    assert first.headers == {"trace": "abc", "n": "1"}
    assert first.timestamp_ms == 1_600_000_000_000
    assert first.timestamp == datetime.fromtimestamp(1_600_000_000)
    assert second.headers == {} and second.timestamp_ms == clock.now_ms()
    assert broker.consume("t", 0, 0) == first and broker.consume("t", 0, 0) == b"v"


def test_produce_batch_keeps_input_order_and_one_append_per_partition(broker: Broker) -> None:
    broker.create_topic("t", 3)
    mds = broker.produce_batch("t", [(None, b"a", -1), (b"user-123", b"b", -1),
                                     (None, b"c", 2), (None, b"d", -1), (b"", b"e", 0)])
    assert [m.partition for m in mds] == [0, fnv1a_32(b"user-123") % 3, 2, 1, 0]
    assert [m.offset for m in mds] == [0, 0, 1, 0, 1]
    assert [m.key_size for m in mds] == [-1, 8, -1, -1, -1]
    for md, value in zip(mds, [b"a", b"b", b"c", b"d", b"e"]):
        assert broker.consume("t", md.partition, md.offset) == value
    assert broker.produce_batch("t", []) == []


def test_produce_batch_results_are_built_when_read_from_sizes_taken_at_once(broker: Broker
                                                                             ) -> None:
    broker.create_topic("t", 1)
    records = [(b"key", b"value", -1), (None, bytearray(b"vv"), -1)]
    mds = broker.produce_batch("t", records)
    assert isinstance(mds, RecordMetadataList) and len(mds) == 2
    records[0] = (None, b"changed afterwards", -1)  # the caller's list is not read again
    assert [(m.offset, m.key_size, m.value_size) for m in mds] == [(0, 3, 5), (1, -1, 2)]
    assert mds == [0, 1] and mds[-1] == 1 and mds[-1].topic == "t"
    assert mds[0] == mds[0] and mds[0] is not mds[0]  # equal results, built on each read
    mds.append(RecordMetadata("t", 0, 7))
    assert [int(m) for m in mds] == [0, 1, 7]


def test_produce_batch_is_all_or_nothing(broker: Broker) -> None:
    broker.create_topic("t", 2)
    with pytest.raises(PartitionNotFoundError):
        broker.produce_batch("t", [(None, b"a", 0), (None, b"b", 5)])
    with pytest.raises(TypeError):
        broker.produce_batch("t", [(None, b"a", 0), (None, "text", 1)])
    assert broker.offsets("t", 0) == (0, 0) and broker.offsets("t", 1) == (0, 0)


def test_fetch_basics(broker: Broker) -> None:
    for i in range(25):
        broker.produce("t", b"m%d" % i, key=b"k" if i % 2 else None)
    r = broker.fetch("t", 0, 0, 0)
    assert [m.offset for m in r.messages] == list(range(10)) and r.next_offset == 10
    assert r.messages[1].key == b"k" and r.messages[0].key is None
    r = broker.fetch("t", 0, 20, 100)
    assert [m.data for m in r] == [b"m%d" % i for i in range(20, 25)] and r.next_offset == 25
    assert (len(broker.fetch("t", 0, 25)), broker.fetch("t", 0, 25).next_offset) == (0, 25)
    assert broker.fetch("t", 0, 99).next_offset == 99
    with pytest.raises(PartitionNotFoundError) as info:
        broker.fetch("t", 1)
    assert info.value.wire == "partition 1 not found"
    with pytest.raises(PartitionNotFoundError):
        broker.fetch("t", -1)
    with pytest.raises(TopicNotFoundError) as tinfo:
        broker.fetch("missing")
    assert tinfo.value.wire == "topic not found: missing"


def test_fetch_scan_limit_and_byte_budget(broker: Broker) -> None:
    broker.produce_batch("t", [(None, b"x" * 100, -1)] * 1500)
    r = broker.fetch("t", 0, 0, 5000)         # flymq's fetch reads up to max_messages
    assert len(r) == 1500 and r.next_offset == 1500
    runs, nxt = broker.fetch_runs("t", 0, 0, 5000, scan_limit=SCAN_LIMIT)   # standard FETCH
    assert sum(stop - start for _, start, stop in runs) == SCAN_LIMIT and nxt == SCAN_LIMIT
    r = broker.fetch("t", 0, 0, 5000, max_bytes=1000)
    assert 1 <= len(r) < 20 and r.next_offset == r.messages[-1].offset + 1


def test_fetch_with_filter_advances_past_skipped_records(broker: Broker) -> None:
    values = [b'{"user": {"id": 1}}', b"plain ERROR", b"other", b'{"user": 2}', b"error again"]
    for v in values:
        broker.produce("t", v)
    r = broker.fetch("t", 0, 0, 1, filter="error")
    assert [m.offset for m in r] == [1] and r.next_offset == 2
    r = broker.fetch("t", 0, 2, 10, filter="error")
    assert [m.offset for m in r] == [4] and r.next_offset == 5
    r = broker.fetch("t", 0, 0, 10, filter="$.user.id")
    assert [m.offset for m in r] == [0] and r.next_offset == 5
    r = broker.fetch("t", 0, 0, 10, filter="^oth")
    assert [m.offset for m in r] == [2]
    r = broker.fetch("t", 0, 0, 10, filter="nomatch")
    assert len(r) == 0 and r.next_offset == 5


def test_filter_examines_at_most_the_scan_limit(broker: Broker, monkeypatch) -> None:
    # the scan limit alone must stop it: a loaded machine could reach the time budget first
    monkeypatch.setattr(partition, "FILTER_TIME_BUDGET_S", 3600.0)
    broker.produce_batch("t", [(None, b"no", -1)] * 1200 + [(None, b"yes", -1)])
    r = broker.fetch("t", 0, 0, 10, filter="yes")
    assert len(r) == 0 and r.next_offset == SCAN_LIMIT
    r = broker.fetch("t", 0, r.next_offset, 10, filter="yes")
    assert [m.offset for m in r] == [1200] and r.next_offset == 1201


def test_expired_records_are_never_delivered(broker: Broker, clock: ManualClock) -> None:
    broker.create_topic("t")
    now = clock.now_ms()
    broker.produce("t", b"keep")
    broker.append(AppendRequest("t", [(None, b"soon", 0)], expire_at=now + 1000))
    broker.produce("t", b"keep2")
    assert [m.data for m in broker.fetch("t", 0, 0, 10)] == [b"keep", b"soon", b"keep2"]
    clock.advance(1000)
    r = broker.fetch("t", 0, 0, 10)
    assert [m.data for m in r] == [b"keep", b"keep2"] and r.next_offset == 3
    r = broker.fetch("t", 0, 0, 2)
    assert [m.offset for m in r] == [0, 2] and r.next_offset == 3
    with pytest.raises(OffsetOutOfRangeError):
        broker.consume("t", 0, 1)
    assert [m.offset for m in broker.fetch("t", 0, 0, 10, filter="keep")] == [0, 2]


def test_offsets_and_offset_for_timestamp(broker: Broker, clock: ManualClock) -> None:
    broker.create_topic("t")
    assert broker.offsets("t", 0) == (0, 0)
    t0 = clock.now_ms()
    broker.produce("t", b"a")
    clock.advance(10)
    broker.produce("t", b"b")
    assert broker.offsets("t", 0) == (0, 2)
    assert broker.offset_for_timestamp("t", 0, t0) == 0
    assert broker.offset_for_timestamp("t", 0, t0 + 5) == 1
    assert broker.offset_for_timestamp("t", 0, t0 + 50) == 2


def test_read_messages_behave_like_consumed_messages(broker: Broker) -> None:
    import copy
    import pickle

    from flymq.models import ConsumedMessage

    broker.produce("t", b"v", key=b"k", timestamp=1_600_000_000_000)
    msg = broker.fetch("t").messages[0]
    plain = ConsumedMessage("t", 0, 0, b"v", b"k", datetime.fromtimestamp(1_600_000_000), {})
    assert msg == plain and hash(msg) == hash(plain) and isinstance(msg, ConsumedMessage)
    assert msg.timestamp_ms == 1_600_000_000_000 and msg.headers == {} and msg.retry_count == 0
    with pytest.raises(AttributeError):        # immutable, like upstream's frozen dataclass
        msg.timestamp = None
    attached = msg.with_deserializer("x")
    assert attached == msg and attached._deserializer == "x" and msg._deserializer is None
    for clone in (pickle.loads(pickle.dumps(attached)), copy.copy(attached),
                  copy.deepcopy(attached)):
        assert clone == msg and clone._deserializer == "x" and clone.timestamp == plain.timestamp
