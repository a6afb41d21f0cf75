"""The one append path: requests with every option, results with a durability handle."""

from __future__ import annotations

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.broker.appends import DURABLE, AppendRequest
from flymq.errors import (InvalidRequestError, MessageTooLargeError, PartitionNotFoundError,
                          TransactionNotFoundError)


def _read(broker: Broker, topic: str, partition: int = 0) -> list:
    return list(broker.fetch(topic, partition, 0, 1000).messages)


def test_single_and_batch_requests_place_records_in_order(broker):
    broker.create_topic("t", 3)
    one = broker.append(AppendRequest("t", ((b"k", b"v", 2),)))
    assert one.placements == [(2, 0)] and one.durability is DURABLE
    many = broker.append(AppendRequest("t", [(None, b"a", 0), (None, b"b", 1), (None, b"c", 0)]))
    assert many.placements == [(0, 0), (1, 0), (0, 1)]
    assert [m.data for m in _read(broker, "t", 0)] == [b"a", b"c"]


def test_rich_records_keep_headers_and_timestamps(broker, clock):
    broker.create_topic("t")
    broker.append(AppendRequest("t", [(b"k", b"v", -1, {"h": "1"}, 42),
                                      (None, b"w", -1, None, None)]))
    first, second = _read(broker, "t")
    assert (first.key, first.headers, first.timestamp_ms) == (b"k", {"h": "1"}, 42)
    assert second.timestamp_ms == clock.now_ms()


@pytest.mark.parametrize("records", [[(None, b"v", 0)], [(None, b"v", 0), (b"k", b"w", 0)]])
def test_expire_at_hides_records_once_passed(broker, clock, records):
    broker.create_topic("t")
    broker.append(AppendRequest("t", records, expire_at=clock.now_ms() + 1000))
    assert len(_read(broker, "t")) == len(records)
    clock.advance(1000)
    assert _read(broker, "t") == []


def test_bad_requests_write_nothing(broker):
    broker.create_topic("t", 2)
    with pytest.raises(PartitionNotFoundError):
        broker.append(AppendRequest("t", [(None, b"a", 0), (None, b"b", 7)]))
    with pytest.raises(MessageTooLargeError):
        broker.append(AppendRequest("t", [(None, b"a", 0),
                                          (None, b"x" * (broker.config.max_message_bytes + 1), 0)]))
    with pytest.raises(InvalidRequestError, match="same partition"):
        broker.append(AppendRequest("t", [(None, b"a", 0), (None, b"b", 1)], producer=(1, 0, 0)))
    with pytest.raises(TransactionNotFoundError):
        broker.append(AppendRequest("t", [(None, b"a", 0)], transaction_id="tx"))
    assert broker.offsets("t", 0) == broker.offsets("t", 1) == (0, 0)


def test_a_negative_producer_id_is_a_plain_append(broker):
    broker.create_topic("t")
    request = AppendRequest("t", [(None, b"a", 0)], producer=(-1, -1, -1))
    assert broker.append(request).placements == [(0, 0)]
    assert broker.append(request).placements == [(0, 1)]


@pytest.mark.parametrize("count", [1, 3])
def test_wait_false_hands_back_a_durability_handle(tmp_path, count):
    with Broker(tmp_path, BrokerConfig(fsync="always")) as broker:
        broker.create_topic("t", 2)
        records = [(None, b"v%d" % i, i % 2) for i in range(count)]
        result = broker.append(AppendRequest("t", records, wait=False))
        assert not result.durability.done()
        result.durability.wait()
        assert result.durability.done()


def test_the_handle_of_a_deleted_topic_is_done(tmp_path):
    with Broker(tmp_path, BrokerConfig(fsync="always")) as broker:
        broker.create_topic("t")
        result = broker.append(AppendRequest("t", [(None, b"v", 0)], wait=False))
        broker.delete_topic("t")
        result.durability.wait()
        assert result.durability.done()
