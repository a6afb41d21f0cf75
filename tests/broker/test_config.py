"""Config dataclasses: defaults, validation, per-topic overrides."""

from __future__ import annotations

import pytest

from flymq.broker import Broker, BrokerConfig, TopicConfig
from flymq.broker.storage import FsyncPolicy
from flymq.broker.topics import log_config_for


def test_defaults_follow_upstream() -> None:
    c = BrokerConfig()
    assert c.auto_create_topics and c.default_partitions == 1 and c.fsync == "interval"
    assert c.max_partitions_per_topic == 10_000 and c.max_message_bytes < 32 * 1024 * 1024


@pytest.mark.parametrize("kwargs", [
    {"fsync": "sometimes"}, {"compression": "zstd"}, {"default_partitions": 0},
    {"segment_bytes": 100}, {"retention_ms": -1}, {"fsync_interval_ms": 0},
    {"max_partitions_per_topic": 2, "default_partitions": 3}, {"max_message_bytes": True},
])
def test_bad_broker_settings_fail_early(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        BrokerConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [{"compression": "gzip"}, {"fsync": "x"},
                                    {"retention_bytes": 0}, {"segment_ms": -5}])
def test_bad_topic_settings_fail_early(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TopicConfig(**kwargs)


def test_topic_config_round_trips_through_a_dict() -> None:
    tc = TopicConfig(compression="lz4", retention_ms=1000)
    assert tc.to_dict() == {"compression": "lz4", "retention_ms": 1000}
    assert TopicConfig.from_dict(tc.to_dict()) == tc
    with pytest.raises(ValueError, match="bogus"):
        TopicConfig.from_dict({"bogus": 1})


def test_topic_overrides_win_over_broker_defaults() -> None:
    lc = log_config_for(BrokerConfig(fsync="never", segment_bytes=4096),
                        TopicConfig(fsync="always", compression="lz4"))
    assert lc.fsync is FsyncPolicy.ALWAYS and lc.compression == "lz4"
    assert lc.segment_bytes == 4096


def test_auto_create_topics_must_be_a_bool():
    with pytest.raises(ValueError, match="auto_create_topics must be True or False"):
        BrokerConfig(auto_create_topics="no")


def test_broker_refuses_a_config_that_is_not_a_broker_config(tmp_path):
    with pytest.raises(TypeError, match="config must be a BrokerConfig"):
        Broker(tmp_path, config={"fsync": "never"})


def test_a_data_dir_that_is_a_file_is_a_storage_error(tmp_path):
    from flymq.errors import StorageError

    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(StorageError, match="cannot use .* as the data directory"):
        Broker(path)
