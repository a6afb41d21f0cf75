"""``Producer`` (client-api §7): sync at linger 0, batched otherwise, on both transports."""

from __future__ import annotations

import pytest

from flymq import InvalidTopicNameError, ProduceResult, ProducerConfig, TopicNotFoundError
from flymq.client.producer import Producer
from flymq.errors import MessageTooLargeError, MAX_FRAME_PAYLOAD

from .conftest import read_all


def test_linger_zero_is_synchronous_with_callback(client):
    seen = []
    producer = Producer(client, "t")
    result = producer.send(b"a", callback=lambda r, e: seen.append((r, e)))
    assert isinstance(result, ProduceResult)
    assert (result.topic, result.offset, result.partition) == ("t", 0, 0)
    assert type(result.offset) is int
    assert seen == [(result, None)]
    assert producer.send("t", "b").offset == 1       # two positional = (topic, data)
    assert read_all(client, "t") == [b"a", b"b"]


def test_send_to_real_partition_and_key(client):
    client.create_topic("p", partitions=3)
    producer = Producer(client)
    assert producer.send("p", b"x", partition=2).partition == 2
    first = producer.send("p", b"y", key="k")
    assert producer.send("p", b"z", key=b"k").partition == first.partition


def test_one_argument_needs_a_default_topic(client):
    with pytest.raises(TypeError):
        Producer(client).send(b"data")
    with pytest.raises(TypeError):
        Producer(client, "t").send()


def test_linger_zero_failure_calls_back_and_raises(client, flymq_broker):
    flymq_broker.config.auto_create_topics = False
    seen = []
    producer = Producer(client, "missing")
    with pytest.raises(TopicNotFoundError):
        producer.send(b"a", callback=lambda r, e: seen.append((r, e)))
    assert len(seen) == 1 and seen[0][0] is None and isinstance(seen[0][1], TopicNotFoundError)
    producer.flush()  # a raised error is not reported a second time


def test_batches_by_count_and_flush(client, wrapped):
    c, wrapper = wrapped()
    wrapper.block()
    producer = Producer(c, "t", config=ProducerConfig(linger_ms=60000, max_batch_messages=10))
    for i in range(15):
        assert producer.send(f"m{i}".encode()) is None
    assert wrapper.entered.wait(5)        # the 10th record sealed a batch: sent at once
    assert producer.metrics["queued"] == 5 and producer.metrics["in_flight"] == 10
    wrapper.gate.set()
    producer.flush()                      # the last 5 go out on flush, not on linger
    assert wrapper.calls == [10, 5]
    assert read_all(client, "t") == [f"m{i}".encode() for i in range(15)]
    assert producer.metrics["acked"] == 15 and producer.metrics["queued"] == 0


def test_batches_by_size(client, wrapped):
    c, wrapper = wrapped()
    wrapper.block()
    producer = Producer(c, "t", config=ProducerConfig(linger_ms=60000, batch_size=100))
    for _ in range(3):
        producer.send(b"x" * 40)          # third record brings the batch to 120 >= 100
    assert wrapper.entered.wait(5)        # sent without flush or linger
    wrapper.gate.set()
    producer.flush()
    assert wrapper.calls == [3]


def test_queued_errors_reach_callbacks_and_flush(client):
    seen = []
    producer = Producer(client, config=ProducerConfig(linger_ms=60000))
    producer.send("bad#topic", b"a", callback=lambda r, e: seen.append(e))
    producer.send("good", b"b", callback=lambda r, e: seen.append(r.offset))
    with pytest.raises(InvalidTopicNameError):
        producer.flush()
    assert isinstance(seen[0], InvalidTopicNameError) and seen[1] == 0
    producer.flush()  # reported once


def test_close_flushes_then_refuses(client):
    with Producer(client, "t", config=ProducerConfig(linger_ms=60000)) as producer:
        producer.send(b"a")
    assert read_all(client, "t") == [b"a"]
    with pytest.raises(RuntimeError, match="Producer is closed"):
        producer.send(b"b")
    producer.close()  # idempotent


def test_close_raises_pending_delivery_error(client):
    producer = Producer(client, config=ProducerConfig(linger_ms=60000))
    producer.send("bad#topic", b"a")
    with pytest.raises(InvalidTopicNameError):
        producer.close()
    assert producer.closed


def test_oversized_value_is_refused_before_sending(client):
    seen = []
    producer = Producer(client, "t", config=ProducerConfig(linger_ms=60000))
    with pytest.raises(MessageTooLargeError):
        producer.send(b"x" * MAX_FRAME_PAYLOAD, callback=lambda r, e: seen.append(e))
    assert isinstance(seen[0], MessageTooLargeError)


def test_callback_exception_is_not_a_send_failure(client, caplog):
    producer = Producer(client, "t", config=ProducerConfig(linger_ms=60000))
    producer.send(b"a", callback=lambda r, e: 1 / 0)
    producer.flush()
    assert read_all(client, "t") == [b"a"] and producer.metrics["acked"] == 1
    assert "callback raised" in caplog.text
