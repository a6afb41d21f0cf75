"""Every served opcode reaches the Broker and comes back encoded (raw frames, real codecs)."""

from __future__ import annotations

import pytest

from flymq import protocol as p
from flymq.errors import (ConsumerGroupNotFoundError, InvalidRequestError, OffsetOutOfRangeError,
                          PartitionNotFoundError, TopicNotFoundError)
from flymq.protocol import Op
from srvutil import RawClient


@pytest.fixture
def c(server):
    with RawClient(server.address) as client:
        yield client


def test_topics(c):
    assert c.call(Op.CREATE_TOPIC, p.CreateTopicRequest("b", 2)).ok
    assert c.call(Op.CREATE_TOPIC, p.CreateTopicRequest("a", 1)).ok
    assert c.call(Op.LIST_TOPICS).topics == ["a", "b"]
    assert c.call(Op.DELETE_TOPIC, p.DeleteTopicRequest("a")).ok
    assert c.call(Op.LIST_TOPICS).topics == ["b"]
    with pytest.raises(InvalidRequestError, match="invalid partition count: -1"):
        c.call(Op.CREATE_TOPIC, p.CreateTopicRequest("x", -1))


def test_produce_explicit_partition_and_consume(c):
    c.call(Op.CREATE_TOPIC, p.CreateTopicRequest("t", 3))
    rm = c.call(Op.PRODUCE, p.ProduceRequest("t", b"key", b"val", 2))
    assert (rm.topic, rm.partition, rm.offset, rm.key_size, rm.value_size) == ("t", 2, 0, 3, 3)
    with pytest.raises(PartitionNotFoundError, match="partition 3 out of range"):
        c.call(Op.PRODUCE, p.ProduceRequest("t", b"", b"v", 3))
    for op in (Op.CONSUME, Op.CONSUME_ZERO_COPY):
        assert c.call(op, p.ConsumeRequest("t", 2, 0)) == p.ConsumeResponse(b"key", b"val")
    with pytest.raises(OffsetOutOfRangeError):
        c.call(Op.CONSUME, p.ConsumeRequest("t", 2, 1))
    with pytest.raises(TopicNotFoundError):
        c.call(Op.CONSUME, p.ConsumeRequest("nope", 0, 0))


def test_fetch_and_fetch_binary(c):
    for i in range(5):
        c.call(Op.PRODUCE, p.ProduceRequest("f", b"", b"m%d" % i, -1))
    for op in (Op.FETCH, Op.FETCH_BINARY):
        got = c.call(op, p.FetchRequest("f", 0, 1, 2))
        assert [(r.offset, r.value) for r in got.records] == [(1, b"m1"), (2, b"m2")]
        assert got.next_offset == 3


def test_extensions(c, broker):
    hello = c.call(Op.HELLO, p.HelloRequest("test", "1"))
    assert {Op.PRODUCE_BATCH, Op.FETCH_EX, Op.SERVER_INFO} <= set(hello.ops)
    assert Op.AUDIT_QUERY not in hello.ops
    batch = c.call(Op.PRODUCE_BATCH, p.ProduceBatchRequest(
        "x", [p.BatchRecord(b"", b"a", -1), p.BatchRecord(b"k", b"b", 0)]))
    assert [(r.partition, r.offset) for r in batch.results] == [(0, 0), (0, 1)]
    c.call(Op.PRODUCE_EX, p.ProduceExRequest("x", b"", b"c", -1, 1234, {"h": "v"}))
    got = c.call(Op.FETCH_EX, p.FetchExRequest("x", 0, 0, 10, 0, 0))
    assert [r.value for r in got.records] == [b"a", b"b", b"c"]
    assert (got.records[2].timestamp, got.records[2].headers) == (1234, {"h": "v"})
    assert (got.next_offset, got.high_watermark, got.log_start) == (3, 3, 0)
    offs = c.call(Op.LIST_OFFSETS, p.ListOffsetsRequest("x", 0, -1))
    assert (offs.start_offset, offs.end_offset) == (0, 3)
    assert c.call(Op.SERVER_INFO).info["version"] == broker.server_info()["version"]


def test_groups(c, server, broker):
    c.call(Op.CREATE_TOPIC, p.CreateTopicRequest("g", 1))
    for i in range(4):
        c.call(Op.PRODUCE, p.ProduceRequest("g", b"", b"%d" % i, -1))
    assert c.call(Op.SUBSCRIBE, p.SubscribeRequest("g", "grp", 0, "earliest")).offset == 0
    assert c.call(Op.SUBSCRIBE, p.SubscribeRequest("g", "grp", 0, "")).offset == 4
    c.call(Op.COMMIT, p.CommitRequest("g", "grp", 0, 1))
    assert c.call(Op.GET_OFFSET, p.GroupPartitionRequest("g", "grp", 0)).offset == 1
    assert c.call(Op.GET_LAG, p.GroupPartitionRequest("g", "grp", 0)) == p.LagResponse(1, 1, 4, 3)
    c.call(Op.RESET_OFFSET, p.ResetOffsetRequest("g", "grp", 0, "latest"))
    desc = c.call(Op.DESCRIBE_GROUP, p.GroupRequest("g", "grp"))
    assert (desc.members, [(o.partition, o.offset) for o in desc.offsets]) == (1, [(0, 4)])
    assert [g.group_id for g in c.call(Op.LIST_GROUPS).groups] == ["grp"]
    c.call(Op.DELETE_GROUP, p.GroupRequest("g", "grp"))
    with pytest.raises(ConsumerGroupNotFoundError):
        c.call(Op.DESCRIBE_GROUP, p.GroupRequest("g", "grp"))


def test_member_left_on_disconnect(server, broker):
    broker.create_topic("m")
    with RawClient(server.address) as c:
        c.call(Op.SUBSCRIBE, p.SubscribeRequest("m", "grp", 0, "latest"))
        assert broker.describe_consumer_group("m", "grp")["members"] == 1
    from srvutil import wait_until
    wait_until(lambda: broker.describe_consumer_group("m", "grp")["members"] == 0,
               what="member_left")


def test_cluster_metadata(c, server):
    c.call(Op.CREATE_TOPIC, p.CreateTopicRequest("cm", 2))
    meta = c.call(Op.CLUSTER_METADATA, p.ClusterMetadataRequest("cm"))
    assert meta.cluster_id == "standalone"
    parts = meta.topics[0].partitions
    assert [q.partition for q in parts] == [0, 1]
    assert parts[0].leader_addr == "127.0.0.1:%d" % server.address[1]
    assert parts[0].replicas == parts[0].isr == [parts[0].leader_id]
    c.send(b"\xaf\x01\x53\x01\x00\x00\x00\x00")                  # empty payload = all topics
    assert p.ClusterMetadataResponse.decode(c.recv_frame().payload).topics[0].name == "cm"
    with pytest.raises(TopicNotFoundError):
        c.call(Op.CLUSTER_METADATA, p.ClusterMetadataRequest("none"))


def test_a_fetch_ex_reply_of_tiny_records_is_capped_to_fit_a_frame(c, broker, monkeypatch):
    """The byte budget counts values only; tiny records are capped by count so that the
    reply fits one frame (1.5M one-byte records once made a 43 MB reply: an error)."""
    assert p.FetchExResponse.most_records(16 << 20) * p.FetchExResponse.RECORD_OVERHEAD \
        + (16 << 20) + 28 <= p.MAX_PAYLOAD
    broker.produce_batch("tiny", [(None, b"x", 0)] * 100)
    monkeypatch.setattr(p.FetchExResponse, "RECORD_OVERHEAD", 1 << 20)  # 15 per reply
    reply = c.call(Op.FETCH_EX, p.FetchExRequest("tiny", 0, 0, 100, 0, 0, ""))
    assert len(reply.offsets) == 15 and reply.next_offset == 15
