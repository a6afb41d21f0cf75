"""Topic lifecycle through the Broker facade: create, delete, list, auto-create, reopen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flymq.broker import Broker, BrokerConfig, TopicConfig
from flymq.broker.topic_dirs import topic_dirname
from flymq.errors import (
    BrokerClosedError, InvalidRequestError, InvalidTopicNameError, PartitionNotFoundError,
    StorageError, TopicNotFoundError,
)


def test_create_is_idempotent_and_zero_means_one(broker: Broker) -> None:
    assert broker.create_topic("orders", 0) is True
    assert broker.partition_count("orders") == 1
    assert broker.create_topic("orders", 5) is False
    assert broker.partition_count("orders") == 1


def test_bad_partition_counts(broker: Broker) -> None:
    with pytest.raises(InvalidRequestError) as info:
        broker.create_topic("t", -1)
    assert info.value.wire == "invalid partition count: -1"
    with pytest.raises(InvalidRequestError, match="at most 10000"):
        broker.create_topic("t", 10_001)
    assert broker.list_topics() == []


def test_invalid_names_are_refused(broker: Broker) -> None:
    for name in ["", "a//b", "../x", "a+b", "x" * 250]:
        with pytest.raises(InvalidTopicNameError):
            broker.create_topic(name)
    with pytest.raises(InvalidTopicNameError):
        broker.produce("bad#name", b"v")
    assert os.listdir(broker.data_dir / "topics") == []


def test_list_is_bytewise_sorted_and_hides_internal_names(broker: Broker) -> None:
    for name in ["b", "a/z", "B", "__internal", "a", "é", "_single", "z.dlq"]:
        broker.create_topic(name)
    assert broker.list_topics() == ["B", "_single", "a", "a/z", "b", "z.dlq", "é"]
    assert broker.partition_count("__internal") == 1


def test_hierarchical_names_use_one_directory(broker: Broker) -> None:
    broker.create_topic("sensors/kitchen/temp", 2)
    broker.produce("sensors/kitchen/temp", b"21.5", partition=1)
    assert os.listdir(broker.data_dir / "topics") == [topic_dirname("sensors/kitchen/temp")]
    assert not (broker.data_dir / "topics" / "sensors").exists()


def test_delete_removes_data_and_recreate_restarts_at_zero(broker: Broker) -> None:
    broker.create_topic("t", 2)
    broker.produce("t", b"a", partition=1)
    broker.produce("t", b"b", partition=1)
    assert broker.delete_topic("t") is True
    assert broker.delete_topic("t") is False
    assert os.listdir(broker.data_dir / "topics") == []
    with pytest.raises(TopicNotFoundError):
        broker.fetch("t")
    broker.create_topic("t", 2)
    assert broker.produce("t", b"c", partition=1).offset == 0


def test_topic_metadata_reports_overrides(broker: Broker) -> None:
    broker.create_topic("t", 3, config=TopicConfig(compression="lz4", retention_ms=60_000))
    md = broker.topic_metadata("t")
    assert (md.name, md.partitions, md.replication_factor) == ("t", 3, 1)
    assert md.config == {"compression": "lz4", "retention_ms": 60_000}
    with pytest.raises(TopicNotFoundError):
        broker.topic_metadata("missing")


def test_auto_create_on_produce(broker: Broker) -> None:
    md = broker.produce("fresh", b"v")
    assert (md.partition, md.offset) == (0, 0)
    assert broker.partition_count("fresh") == 1
    with pytest.raises(PartitionNotFoundError):
        broker.produce("fresh2", b"v", partition=3)
    assert "fresh2" not in broker.list_topics()


def test_auto_create_off(data_dir: Path) -> None:
    with Broker(data_dir, BrokerConfig(auto_create_topics=False, fsync="never")) as b:
        with pytest.raises(TopicNotFoundError) as info:
            b.produce("missing", b"v")
        assert info.value.wire == "topic not found: missing"
        assert "create_topic" in info.value.hint
        with pytest.raises(TopicNotFoundError):
            b.produce_batch("missing", [(None, b"v", -1)])
        assert b.list_topics() == []


def test_read_paths_never_create(broker: Broker) -> None:
    for call in (lambda: broker.fetch("nope"), lambda: broker.consume("nope", 0, 0),
                 lambda: broker.subscribe("nope", "g", 0, "earliest"),
                 lambda: broker.offsets("nope", 0)):
        with pytest.raises(TopicNotFoundError):
            call()
    assert broker.list_topics() == []


def test_reopen_recovers_topics_records_config(data_dir: Path) -> None:
    cfg = BrokerConfig(fsync="never")
    with Broker(data_dir, cfg) as b:
        b.create_topic("a/b", 3, config=TopicConfig(retention_bytes=1 << 20))
        b.create_topic("é.x", 1)
        for i in range(9):
            b.produce("a/b", b"v%d" % i, key=b"k%d" % i)
        b.produce("é.x", b"only")
        before = {p: [m.data for m in b.fetch("a/b", p, 0, 100)] for p in range(3)}
        b.delete_topic("é.x")
        b.create_topic("é.x", 2)
    with Broker(data_dir, cfg) as b:
        assert b.list_topics() == ["a/b", "é.x"]
        assert b.partition_count("a/b") == 3 and b.partition_count("é.x") == 2
        assert b.topic_metadata("a/b").config == {"retention_bytes": 1 << 20}
        assert {p: [m.data for m in b.fetch("a/b", p, 0, 100)] for p in range(3)} == before
        assert b.offsets("é.x", 0) == (0, 0)
        md = b.produce("a/b", b"next", key=b"k0")
        assert md.offset == len(before[md.partition])


def test_leftovers_and_foreign_directories_are_handled(data_dir: Path) -> None:
    with Broker(data_dir, BrokerConfig(fsync="never")) as b:
        b.create_topic("good")
    topics = data_dir / "topics"
    (topics / ".new-123").mkdir()  # a crash during create
    (topics / "junk").mkdir()  # no metadata
    (topics / "moved").mkdir()
    (topics / "moved" / "topic.json").write_text('{"name": "other", "partitions": 1}')
    damaged = {"w": '[1]', "v": '{"name": 5, "partitions": 1}',
               "x": '{"name": "x", "partitions": 1, "format": 99}',
               "y": '{"name": "y", "partitions": "many"}'}
    for dirname, meta in damaged.items():
        (topics / dirname).mkdir()
        (topics / dirname / "topic.json").write_text(meta)
    with Broker(data_dir, BrokerConfig(fsync="never")) as b:
        assert b.list_topics() == ["good"]
        assert not (topics / ".new-123").exists()
        with pytest.raises(StorageError, match="not a readable topic"):
            b.create_topic("x")
        assert (topics / "x" / "topic.json").exists()


def test_temporary_directory_is_removed_on_close() -> None:
    b = Broker(config=BrokerConfig(fsync="never"))
    path = b.data_dir
    b.produce("t", b"v")
    assert path.exists()
    b.close()
    b.close()
    assert not path.exists() and b.closed
    with pytest.raises(BrokerClosedError):
        b.produce("t", b"v")


def test_config_data_dir_is_used(tmp_path: Path) -> None:
    with Broker(config=BrokerConfig(data_dir=str(tmp_path / "d"), fsync="never")) as b:
        assert b.data_dir == tmp_path / "d"
    assert (tmp_path / "d").exists()


def test_one_broker_per_directory(data_dir: Path) -> None:
    with Broker(data_dir, BrokerConfig(fsync="never")):
        with pytest.raises(StorageError, match="in use"):
            Broker(data_dir)
    Broker(data_dir).close()


def test_named_brokers_are_registered_until_closed(data_dir: Path) -> None:
    with Broker(data_dir, name="reg-test") as b:
        assert Broker.lookup("reg-test") is b
        with pytest.raises(ValueError):
            Broker(name="reg-test")
    with pytest.raises(KeyError):
        Broker.lookup("reg-test")


def test_server_info(broker: Broker) -> None:
    broker.create_topic("a")
    broker.create_topic("__hidden")
    info = broker.server_info()
    assert info["topics"] == 1 and info["fsync"] == "never"
    assert info["data_dir"] == str(broker.data_dir) and info["uptime_ms"] >= 0
    assert isinstance(info["version"], str)


def test_retention_drops_old_segments(data_dir: Path, clock) -> None:
    cfg = BrokerConfig(fsync="never", segment_bytes=1024)
    with Broker(data_dir, cfg, clock=clock) as b:
        b.create_topic("t", 2, config=TopicConfig(retention_ms=1000))
        for i in range(50):
            b.produce("t", b"x" * 100, partition=0)
        clock.advance(5000)
        b.produce("t", b"fresh", partition=0)
        assert b.apply_retention() >= 1
        start, end = b.offsets("t", 0)
        assert 0 < start < end == 51
        assert b.fetch("t", 0, 0).next_offset == 0  # below the start: nothing readable
        assert b.fetch("t", 0, start).messages[0].offset == start
        assert not (data_dir / "topics" / "t" / "1").exists()  # never written, never opened


def test_retention_runs_by_itself_on_the_broker_clock(data_dir: Path, clock) -> None:
    cfg = BrokerConfig(fsync="never", segment_bytes=1024, retention_check_interval_ms=60_000)
    with Broker(data_dir, cfg, clock=clock) as b:
        b.create_topic("t", 1, config=TopicConfig(retention_ms=1000))
        for i in range(50):
            b.produce("t", b"x" * 100)
        clock.advance(30_000)  # not due yet: nothing deleted
        b.produce("t", b"fresh")
        assert b.offsets("t", 0)[0] == 0
        clock.advance(30_000)  # now due: the pass runs before advance returns
        start, end = b.offsets("t", 0)
        assert 0 < start < end == 51
        for i in range(50):
            b.produce("t", b"x" * 100)
        clock.advance(59_999)  # the pass re-armed itself for one interval later
        assert b.offsets("t", 0)[0] == start
        clock.advance(1)
        assert b.offsets("t", 0)[0] > start
