"""Produce, consume and fetch through FlyMQClient, on both transports."""

from __future__ import annotations

import pytest

import flymq
from flymq import (
    InvalidRequestError, InvalidTopicNameError, MessageTooLargeError, OffsetOutOfRangeError, PartitionNotFoundError,
    RecordMetadata, ServerError, TopicNotFoundError,
)
from flymq.wire_limits import MAX_FRAME_PAYLOAD, PRODUCE_OVERHEAD


def test_produce_returns_record_metadata_usable_as_offset(client):
    first = client.produce("t", b"hello")
    second = client.produce("t", "world")
    assert isinstance(first, RecordMetadata)
    assert (first.topic, first.partition, first.offset, first.value_size) == ("t", 0, 0, 5)
    assert first == 0 and second == 1 and second > first
    assert f"{second}" == "1"
    assert client.consume("t", second).data == b"world"
    assert client.consume("t", 0) == b"hello"


def test_consume_returns_message_fields(client):
    client.produce("t", b"v", key="k")
    msg = client.consume("t", 0)
    assert isinstance(msg, flymq.ConsumedMessage)
    assert (msg.topic, msg.partition, msg.offset, msg.data, msg.key) == ("t", 0, 0, b"v", b"k")
    assert msg.value == b"v" and msg.decode() == "v" and msg.decode_key() == "k"


def test_unkeyed_message_has_no_key(client):
    client.produce("t", b"v")
    assert client.consume("t", 0).key is None


def test_same_key_same_partition(client):
    client.create_topic("orders", partitions=4)
    parts = {client.produce_with_key("orders", "user-123", f"o{i}").partition for i in range(5)}
    assert len(parts) == 1


def test_produce_to_partition_honours_partition_over_key(client):
    client.create_topic("p", partitions=3)
    meta = client.produce_to_partition("p", 2, b"x", key="k")
    assert meta.partition == 2
    assert client.produce("p", b"y", key="k", partition=1).partition == 1
    assert client.consume("p", 0, partition=2).key == b"k"


def test_consume_with_record_metadata_reads_its_partition(client):
    client.create_topic("p", partitions=3)
    client.produce("p", b"first", partition=0)
    meta = client.produce("p", b"second", partition=2)
    assert meta == 0 and meta.partition == 2
    assert client.consume("p", meta).data == b"second"
    assert client.consume("p", meta, partition=0).data == b"first"  # explicit partition wins


def test_non_bytes_value_without_serializer_is_type_error(client):
    with pytest.raises(TypeError):
        client.produce("t", {"a": 1})


def test_bytearray_value_is_copied(client):
    buf = bytearray(b"abc")
    client.produce("t", buf)
    buf[0] = ord("z")
    assert client.consume("t", 0).data == b"abc"


def test_fetch_reads_a_range_and_next_offset(client):
    for i in range(5):
        client.produce("t", f"m{i}")
    result = client.fetch("t", offset=1, max_messages=3)
    assert [m.data for m in result.messages] == [b"m1", b"m2", b"m3"]
    assert result.next_offset == 4
    end = client.fetch("t", offset=5)
    assert end.messages == [] and end.next_offset == 5


def test_fetch_max_messages_not_positive_means_ten(client):
    for i in range(12):
        client.produce("t", b"x")
    assert len(client.fetch("t", max_messages=0).messages) == 10
    assert len(client.fetch("t", max_messages=-3).messages) == 10


def test_fetch_filter_skips_but_advances(client):
    for v in (b"ERROR one", b"info", b"error two", b"debug"):
        client.produce("logs", v)
    result = client.fetch("logs", filter="error")
    assert [m.data for m in result.messages] == [b"ERROR one", b"error two"]
    assert result.next_offset == 4


def test_consume_missing_topic(client):
    with pytest.raises(TopicNotFoundError) as info:
        client.consume("nope", 0)
    assert isinstance(info.value, ServerError)


def test_fetch_missing_topic(client):
    with pytest.raises(TopicNotFoundError):
        client.fetch("nope")


def test_consume_past_end_is_offset_out_of_range(client):
    client.produce("t", b"x")
    with pytest.raises(OffsetOutOfRangeError) as info:
        client.consume("t", 1)
    assert isinstance(info.value, ServerError)
    assert info.value.topic == "t" and info.value.offset == 1


def test_partition_out_of_range(client):
    client.create_topic("p", partitions=2)
    with pytest.raises(PartitionNotFoundError):
        client.produce("p", b"x", partition=2)
    with pytest.raises(PartitionNotFoundError):
        client.fetch("p", partition=5)


def test_invalid_topic_name(client):
    with pytest.raises(InvalidTopicNameError):
        client.produce("bad+name", b"x")
    with pytest.raises(InvalidTopicNameError):
        client.create_topic("a/../b")


def test_request_over_32_mib_is_refused_before_sending(client):
    with pytest.raises(MessageTooLargeError) as info:
        client.produce("big", b"\0" * MAX_FRAME_PAYLOAD)
    assert info.value.size > info.value.max_size == MAX_FRAME_PAYLOAD
    assert "big" not in client.list_topics()  # nothing reached the broker (no auto-create)


def test_size_check_counts_the_whole_request(client):
    # the size check counts the whole PRODUCE request: its fields + topic + key + value
    with pytest.raises(MessageTooLargeError):
        client.produce("big", b"\0" * (MAX_FRAME_PAYLOAD - PRODUCE_OVERHEAD - 3 + 1))


@pytest.mark.timeout(20)
def test_a_pathological_filter_cannot_stall_the_broker(client):
    client.create_topic("evil", 1)
    client.produce("evil", b"a" * 50_000 + b"!")
    client.produce("evil", b"aaaa")
    result = client.fetch("evil", 0, 0, 10, filter="(a+)+$")
    assert [m.offset for m in result.messages] == [1] and result.next_offset == 2
    assert client.fetch("evil", 0, 0, 10).next_offset == 2  # and it still answers


@pytest.mark.parametrize("key", [5, 4.5, object(), [b"k"]])
def test_a_key_that_is_not_bytes_or_str_is_a_type_error(client, key):
    client.create_topic("k")
    for produce in (lambda: client.produce("k", b"v", key=key),
                    lambda: client.produce_with_key("k", key, b"v"),
                    lambda: client.producer(linger_ms=0).send("k", b"v", key=key).get(5_000)):
        with pytest.raises(TypeError, match="key must be bytes, str or None"):
            produce()
    assert client.fetch("k", 0, 0, 10).messages == []


@pytest.mark.parametrize("call", [
    lambda c: c.produce(123, b"x"), lambda c: c.produce(None, b"x"),
    lambda c: c.produce("t", b"x", partition=2**40), lambda c: c.consume("t", -5),
    lambda c: c.fetch("t", 0, -5), lambda c: c.fetch("t", 0, 0, 10, filter=b"x"),
    lambda c: c.fetch("t", 0, 0, "10"), lambda c: c.fetch("t", 2**40, 0),
    lambda c: c.partition_offsets("t", -1)],
    ids=["int topic", "None topic", "huge partition", "negative consume offset",
         "negative fetch offset", "bytes filter", "str max_messages", "huge fetch partition",
         "negative partition"])
def test_bad_arguments_are_the_same_invalid_request_on_both_transports(client, call):
    client.produce("t", b"kept")
    with pytest.raises(InvalidRequestError, match="^invalid "):
        call(client)
    assert [m.data for m in client.fetch("t", 0, 0, 10).messages] == [b"kept"]


@pytest.mark.parametrize("partition", [True, 2**40, "0", 1.0])
def test_producers_check_partitions_as_produce_does(client, partition):
    client.create_topic("pp", 2)
    with pytest.raises(InvalidRequestError, match="^invalid partition"):
        client.producer(linger_ms=0).send("pp", b"v", partition=partition).get(5_000)
    assert client.fetch("pp", 0, 0, 10).messages == [] and client.fetch("pp", 1, 0, 10).messages == []
