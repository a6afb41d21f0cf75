"""DESCRIBE_TOPIC (0xDB) in raw frames: announced in HELLO, a JSON object of offsets, bytes
on disk and config overrides, and `topic not found: <t>` for a missing topic."""

from __future__ import annotations

import json

import pytest

from flymq import protocol as p
from flymq.errors import TopicNotFoundError
from flymq.protocol import Op
from srvutil import RawClient


def test_describe_topic_frames(server, broker):
    with RawClient(server.address) as c:
        assert Op.DESCRIBE_TOPIC in c.call(Op.HELLO, p.HelloRequest("test", "1")).ops
        c.call(Op.CREATE_TOPIC_EX, p.CreateTopicExRequest("t", 2, {"retention_bytes": 4096}))
        c.call(Op.PRODUCE, p.ProduceRequest("t", b"", b"value", 1))
        reply = c.call(Op.DESCRIBE_TOPIC, p.TopicRequest("t"))
        assert reply.topic == broker.describe_topic("t")
        assert reply.topic["config"] == {"retention_bytes": 4096}
        assert [(q["end_offset"], q["size_bytes"] > 0) for q in reply.topic["partitions"]] == \
            [(0, False), (1, True)]
        # the payload is str16 topic; the reply one bytes32 UTF-8 JSON object
        assert json.loads(p.DescribeTopicResponse(reply.topic).encode()[4:]) == reply.topic
        with pytest.raises(TopicNotFoundError) as info:
            c.call(Op.DESCRIBE_TOPIC, p.TopicRequest("nope"))
        assert info.value.wire == "topic not found: nope"
        assert c.call(Op.LIST_TOPICS).topics == ["t"]   # the connection stays usable
