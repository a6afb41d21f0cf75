"""[ext] ``describe_topic``: offsets, stored bytes and config overrides of a topic, the same
embedded and over TCP (DESCRIBE_TOPIC, 0xDB), and a reduced answer from an upstream server."""

from __future__ import annotations

from pathlib import Path

import pytest

from flymq import FlyMQClient
from flymq.broker import Broker
from flymq.broker.topic_dirs import topic_dirname
from flymq.errors import TopicNotFoundError


def _segment_bytes(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.glob("*.log"))


def test_partitions_sizes_and_config(client: FlyMQClient, flymq_broker: Broker):
    client.create_topic("orders", 3, config={"retention_ms": 60_000, "compression": "lz4"})
    for i in range(5):
        client.produce("orders", b"v%d" % i, partition=2)
    client.produce("orders", b"x", partition=0)

    described = client.describe_topic("orders")

    assert described["name"] == "orders"
    assert described["config"] == {"retention_ms": 60_000, "compression": "lz4"}
    parts = described["partitions"]
    assert [(p["partition"], p["start_offset"], p["end_offset"]) for p in parts] == \
        [(0, 0, 1), (1, 0, 0), (2, 0, 5)]
    assert parts[0]["size_bytes"] > 0 and parts[2]["size_bytes"] > parts[0]["size_bytes"]
    root = flymq_broker.data_dir / "topics" / topic_dirname("orders")
    assert [p["size_bytes"] for p in parts] == [_segment_bytes(root / str(p)) for p in range(3)]
    assert described == flymq_broker.describe_topic("orders")  # the same through either door


def test_a_topic_without_overrides_has_an_empty_config(client: FlyMQClient):
    client.create_topic("plain", 1)
    described = client.describe_topic("plain")
    assert described["config"] == {}
    assert described["partitions"] == [{"partition": 0, "start_offset": 0, "end_offset": 0,
                                        "size_bytes": described["partitions"][0]["size_bytes"]}]


def test_a_missing_topic_is_topic_not_found(client: FlyMQClient):
    with pytest.raises(TopicNotFoundError) as info:
        client.describe_topic("nope")
    assert "nope" in str(info.value)
    client.create_topic("still-usable", 1)  # the connection is fine afterwards
    assert client.describe_topic("still-usable")["name"] == "still-usable"
