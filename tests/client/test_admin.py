"""Topic and consumer-group administration through FlyMQClient, on both transports."""

from __future__ import annotations

import pytest

from flymq import ConsumerGroupNotFoundError, InvalidRequestError, SubscribeMode, TopicNotFoundError


def test_create_list_delete_topic(client):
    client.create_topic("b")
    client.create_topic("a", partitions=3)
    assert client.list_topics() == ["a", "b"]
    client.delete_topic("b")
    assert client.list_topics() == ["a"]
    with pytest.raises(TopicNotFoundError):
        client.fetch("b")


def test_create_topic_is_idempotent_and_zero_means_one(client):
    client.create_topic("t", partitions=0)
    client.create_topic("t", partitions=0)
    meta = client.get_cluster_metadata("t")
    assert [p.partition for p in meta.get_topic_partitions("t")] == [0]


def test_create_topic_negative_partitions(client):
    with pytest.raises(InvalidRequestError):
        client.create_topic("t", partitions=-1)


def test_cluster_metadata_lists_partitions_and_leaders(client):
    client.create_topic("t", partitions=3)
    meta = client.get_cluster_metadata()
    assert [p.partition for p in meta.get_topic_partitions("t")] == [0, 1, 2]
    assert meta.get_partition_leader("t", 1) is not None
    assert meta.get_partition_leader("t", 7) is None


def test_subscribe_modes(client):
    for i in range(3):
        client.produce("t", b"x")
    assert client.subscribe("t", "g", 0, "earliest") == 0
    assert client.subscribe("t", "g", 0, SubscribeMode.LATEST) == 3
    assert client.subscribe("t", "g2", 0, SubscribeMode.COMMIT) == 0  # no commit -> earliest
    client.commit_offset("t", "g2", 0, 2)
    assert client.subscribe("t", "g2", 0, "commit") == 2


def test_subscribe_missing_topic(client):
    with pytest.raises(TopicNotFoundError):
        client.subscribe("nope", "g")


def test_commit_and_get_committed_offset(client):
    client.produce("t", b"x")
    client.commit_offset("t", "g", 0, 1)
    assert client.get_committed_offset("t", "g") == 1


def test_committed_offset_of_unknown_group(client):
    client.produce("t", b"x")
    with pytest.raises(ConsumerGroupNotFoundError):
        client.get_committed_offset("t", "ghost")


def test_reset_offset_modes(client):
    for _ in range(4):
        client.produce("t", b"x")
    client.commit_offset("t", "g", 0, 2)
    client.reset_offset_to_latest("t", "g")
    assert client.get_committed_offset("t", "g") == 4
    client.reset_offset_to_earliest("t", "g")
    assert client.get_committed_offset("t", "g") == 0
    client.reset_offset("t", "g", 0, mode="offset", offset=3)
    assert client.get_committed_offset("t", "g") == 3


def test_get_lag(client):
    for _ in range(5):
        client.produce("t", b"x")
    client.commit_offset("t", "g", 0, 2)
    lag = client.get_lag("t", "g")
    assert lag["committed_offset"] == 2 and lag["latest_offset"] == 5 and lag["lag"] == 3


def test_list_describe_delete_groups(client):
    client.produce("t", b"x")
    client.commit_offset("t", "g", 0, 1)
    groups = client.list_consumer_groups()
    assert any(g["group_id"] == "g" and g["topic"] == "t" for g in groups)
    described = client.describe_consumer_group("t", "g")
    assert described["group_id"] == "g"
    assert {"partition": 0, "offset": 1} in described["offsets"]
    client.delete_consumer_group("t", "g")
    with pytest.raises(ConsumerGroupNotFoundError):
        client.describe_consumer_group("t", "g")


def test_create_topic_with_per_topic_config(client, flymq_broker):
    """[ext] per-topic settings reach the broker (over TCP by CREATE_TOPIC_EX)."""
    client.create_topic("t", 2, config={"compression": "lz4", "retention_ms": 60_000})
    assert flymq_broker.topic_metadata("t").config == {"compression": "lz4",
                                                        "retention_ms": 60_000}
    client.produce("t", b"x" * 1000, partition=1)
    assert client.consume("t", 0, partition=1).data == b"x" * 1000
    client.create_topic("t", 2, config={"compression": "none"})  # exists: nothing changes
    assert flymq_broker.topic_metadata("t").config["compression"] == "lz4"


def test_create_topic_with_bad_config(client):
    with pytest.raises(ValueError):
        client.create_topic("t", config={"retention_days": 1})
    with pytest.raises(ValueError):
        client.create_topic("t", config={"compression": "zstd"})
    assert "t" not in client.list_topics()


def test_metadata_of_all_topics_lists_internal_names_on_both_transports(client):
    """Like CLUSTER_METADATA (spec §6.6.4): '__' topics are listed, unlike list_topics()."""
    client.create_topic("__internal")
    client.create_topic("visible")
    assert client.list_topics() == ["visible"]
    listed = {t.topic for t in client.get_cluster_metadata().topics}
    assert {"__internal", "visible"} <= listed


@pytest.mark.parametrize("group, partition, offset", [
    (None, 0, 1), (5, 0, 1), ("g", -1, 1), ("g", 2**31, 1), ("g", True, 1),
    ("g", 0, -1), ("g", 0, 2**63), ("g", 0, 2**64), ("g", 0, "3"), ("g", 0, 1.5)])
def test_bad_group_commits_are_refused_and_store_nothing(client, group, partition, offset):
    client.create_topic("t")
    with pytest.raises(InvalidRequestError, match="invalid (group id|partition|offset)"):
        client.commit_offset("t", group, partition, offset)
    assert client.list_consumer_groups() == []


@pytest.mark.parametrize("count", [True, "3", 2.0, 2**40, -1])
def test_bad_partition_counts_are_refused(client, count):
    with pytest.raises(InvalidRequestError, match="invalid partition count"):
        client.create_topic("t", count)
    assert client.list_topics() == []
