"""Consumer groups (wire spec §6.7, §7.8): modes, offsets, lag, admin, durability."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.broker.groups import GroupCoordinator
from flymq.broker.storage import LogConfig
from flymq.clock import ManualClock
from flymq.errors import (
    ConsumerGroupNotFoundError, InvalidRequestError, PartitionNotFoundError, TopicNotFoundError,
)
from flymq.models import SubscribeMode
from flymq.timers import TimerService


def _coordinator(directory: Path, cfg: LogConfig, clock: ManualClock,
                 **kwargs) -> GroupCoordinator:
    """A coordinator alone, with timers of its own and no topics to subscribe to."""
    return GroupCoordinator(directory, cfg, clock=clock, flusher=None,
                            timers=TimerService(clock), resolve=lambda topics: {}, **kwargs)


@pytest.fixture
def topic(broker: Broker) -> str:
    broker.create_topic("t", 2)
    for i in range(5):
        broker.produce("t", b"m%d" % i, partition=0)
    return "t"


def test_subscribe_modes(broker: Broker, topic: str) -> None:
    assert broker.subscribe(topic, "g", 0, "earliest") == 0
    assert broker.subscribe(topic, "g", 0, "latest") == 5
    assert broker.subscribe(topic, "g", 0, "") == 5
    assert broker.subscribe(topic, "g", 1, "latest") == 0  # flymq deviation: LEO, not 1
    assert broker.subscribe(topic, "g", 0, "commit") == 0  # nothing committed: earliest
    broker.commit_offset(topic, "g", 0, 3)
    assert broker.subscribe(topic, "g", 0, SubscribeMode.COMMIT) == 3
    assert broker.subscribe(topic, "", 0, "commit") == 0
    with pytest.raises(InvalidRequestError) as info:
        broker.subscribe(topic, "g", 0, "middle")
    assert info.value.wire == "unknown subscribe mode: middle"


def test_subscribe_errors_and_membership_first(broker: Broker, topic: str) -> None:
    with pytest.raises(TopicNotFoundError):
        broker.subscribe("missing", "g2", 0, "earliest", member="m")
    # upstream registers the member before checking the topic
    assert broker.describe_consumer_group("missing", "g2")["members"] == 1
    for bad in (2, -1):
        with pytest.raises(PartitionNotFoundError) as info:
            broker.subscribe(topic, "g", bad, "earliest")
        assert info.value.wire == f"partition {bad} not found"


def test_committed_offsets(broker: Broker, topic: str) -> None:
    with pytest.raises(ConsumerGroupNotFoundError) as info:
        broker.get_committed_offset(topic, "g")
    assert info.value.wire == "consumer group not found: t:g"
    broker.commit_offset("not-a-topic", "g", 7, 123)  # upstream validates nothing
    assert broker.get_committed_offset("not-a-topic", "g", 7) == 123
    assert broker.get_committed_offset("not-a-topic", "g", 0) == 0
    broker.subscribe(topic, "g", 0, "earliest")  # creates the group in memory
    assert broker.get_committed_offset(topic, "g", 0) == 0
    with pytest.raises(InvalidRequestError):
        broker.commit_offset(topic, "g", 0, -1)


def test_reset_offset(broker: Broker, topic: str) -> None:
    broker.reset_offset(topic, "g", 0, "latest")
    assert broker.get_committed_offset(topic, "g", 0) == 5
    broker.reset_offset(topic, "g", 0)  # earliest by default
    assert broker.get_committed_offset(topic, "g", 0) == 0
    broker.reset_offset(topic, "g", 0, "offset", 4)
    assert broker.get_committed_offset(topic, "g", 0) == 4
    broker.reset_offset(topic, "g", 1, "offset")
    assert broker.get_committed_offset(topic, "g", 1) == 0
    with pytest.raises(InvalidRequestError) as info:
        broker.reset_offset(topic, "g", 0, "sideways")
    assert info.value.wire == "unknown reset mode: sideways"
    with pytest.raises(TopicNotFoundError):
        broker.reset_offset("missing", "g", 0, "earliest")
    with pytest.raises(PartitionNotFoundError):
        broker.reset_offset(topic, "g", 9, "latest")
    broker.reset_offset("missing", "g", 0, "offset", 2)  # no topic check for explicit offsets


def test_lag(broker: Broker, topic: str) -> None:
    with pytest.raises(ConsumerGroupNotFoundError):
        broker.get_lag(topic, "g")
    broker.commit_offset(topic, "g", 0, 2)
    assert broker.get_lag(topic, "g", 0) == {"current_offset": 2, "committed_offset": 2,
                                             "latest_offset": 5, "lag": 3}
    assert broker.get_lag(topic, "g", 1)["lag"] == 0
    broker.commit_offset(topic, "g", 0, 50)
    assert broker.get_lag(topic, "g", 0)["lag"] == 0
    with pytest.raises(PartitionNotFoundError):
        broker.get_lag(topic, "g", 3)
    broker.commit_offset("gone", "g", 0, 1)
    with pytest.raises(TopicNotFoundError):
        broker.get_lag("gone", "g", 0)


def test_list_describe_delete_and_members(broker: Broker, topic: str) -> None:
    broker.commit_offset(topic, "b", 1, 4)
    broker.commit_offset(topic, "b", 0, 2)
    broker.commit_offset("a-topic", "z", 0, 1)
    broker.subscribe(topic, "a", 0, "earliest", member="m1")
    broker.subscribe(topic, "a", 1, "earliest", member="m2")
    broker.subscribe(topic, "b", 1, "earliest", member="m1")
    groups = broker.list_consumer_groups()
    assert [(g["topic"], g["group_id"]) for g in groups] == [("a-topic", "z"), (topic, "a"),
                                                            (topic, "b")]
    assert groups[2] == {"topic": topic, "group_id": "b", "members": 1,
                         "offsets": [{"partition": 0, "offset": 2}, {"partition": 1, "offset": 4}]}
    assert [g["group_id"] for g in broker.list_consumer_groups(topic)] == ["a", "b"]
    assert broker.describe_consumer_group(topic, "a")["members"] == 2
    broker.member_left("m1")
    assert broker.describe_consumer_group(topic, "a")["members"] == 1
    assert broker.describe_consumer_group(topic, "b")["members"] == 0
    broker.delete_consumer_group(topic, "b")
    with pytest.raises(ConsumerGroupNotFoundError):
        broker.describe_consumer_group(topic, "b")
    with pytest.raises(ConsumerGroupNotFoundError):
        broker.delete_consumer_group(topic, "b")


def test_offsets_survive_reopen_and_topic_deletion(data_dir: Path) -> None:
    cfg = BrokerConfig(fsync="never")
    with Broker(data_dir, cfg) as b:
        b.create_topic("t", 2)
        b.commit_offset("t", "g", 0, 10)
        b.commit_offset("t", "g", 1, 20)
        b.commit_offset("t", "g", 1, 21)
        b.commit_offset("t", "gone", 0, 1)
        b.delete_consumer_group("t", "gone")
        b.subscribe("t", "memory-only", 0, "earliest", member="m")
        b.delete_topic("t")
    with Broker(data_dir, cfg) as b:
        assert b.list_consumer_groups() == [{"topic": "t", "group_id": "g", "members": 0,
                                             "offsets": [{"partition": 0, "offset": 10},
                                                         {"partition": 1, "offset": 21}]}]


def test_compaction_keeps_only_live_offsets(tmp_path: Path) -> None:
    clock = ManualClock()
    cfg = LogConfig(fsync="never", segment_bytes=4096)
    groups = _coordinator(tmp_path, cfg, clock, compact_min_records=50)
    for i in range(500):
        groups.commit("t", f"g{i % 3}", i % 2, i)
    groups.commit("t", "doomed", 0, 1)
    groups.delete("t", "doomed")
    before = groups.list()
    groups.close()
    reopened = _coordinator(tmp_path, cfg, clock)
    assert reopened.list() == before
    assert reopened._log.end_offset < 100  # compacted, not 502 records
    reopened.close()
    assert sorted(os.listdir(tmp_path)) == ["offsets"]


def test_interrupted_compaction_is_finished_on_open(tmp_path: Path) -> None:
    clock = ManualClock()
    cfg = LogConfig(fsync="never")
    groups = _coordinator(tmp_path, cfg, clock)
    groups.commit("t", "g", 0, 7)
    groups.close()
    os.rename(tmp_path / "offsets", tmp_path / "offsets.new")  # crash between the renames
    (tmp_path / "offsets.old").mkdir()
    reopened = _coordinator(tmp_path, cfg, clock)
    assert reopened.committed("t", "g", 0) == 7
    reopened.close()
