"""``client.producer()`` -> HighLevelProducer and ProduceFuture (client-api §4)."""

from __future__ import annotations

import pytest

from flymq import InvalidTopicNameError, RecordMetadata, TopicNotFoundError
from flymq.client.producer import HighLevelProducer, ProduceFuture
from flymq.errors import TimeoutError

from .conftest import read_all


def test_linger_zero_future_is_complete_inside_send(client):
    seen = []
    producer = client.producer()
    future = producer.send("t", "v", key="k", on_success=seen.append)
    assert isinstance(producer, HighLevelProducer) and isinstance(future, ProduceFuture)
    assert future.done() and future.succeeded() and future.error is None
    meta = future.get()
    assert isinstance(meta, RecordMetadata) and meta == 0 and meta.topic == "t"
    assert seen == [meta]


def test_delivery_failure_goes_to_future_and_on_error(client, flymq_broker):
    flymq_broker.config.auto_create_topics = False
    errors = []
    producer = client.producer()
    future = producer.send("missing", b"v", on_error=errors.append)   # never raises
    assert future.done() and not future.succeeded()
    assert isinstance(future.error, TopicNotFoundError) and errors == [future.error]
    with pytest.raises(TopicNotFoundError):
        future.get()


def test_queued_sends_complete_on_flush(client):
    producer = client.producer(linger_ms=60000, max_retries=0)
    assert producer.config.retries == 0
    futures = [producer.send("t", b"%d" % i) for i in range(5)]
    bad = producer.send("bad#topic", b"x")
    assert not futures[0].done() and futures[0].error is None
    with pytest.raises(TimeoutError, match="Produce operation timed out"):
        futures[0].get(timeout_ms=1)
    producer.flush()                     # does not raise: errors live on the futures
    assert [f.get() for f in futures] == [0, 1, 2, 3, 4]
    assert isinstance(bad.error, InvalidTopicNameError)
    assert read_all(client, "t") == [b"%d" % i for i in range(5)]


def test_count_trigger_without_flush(client):
    producer = client.producer(linger_ms=60000, max_batch_messages=4)
    futures = [producer.send("t", b"x") for _ in range(4)]
    assert [f.get(timeout_ms=4000) for f in futures] == [0, 1, 2, 3]


def test_callback_exception_is_logged_not_a_failure(client, caplog):
    producer = client.producer()
    future = producer.send("t", b"v", on_success=lambda meta: 1 / 0)
    assert future.succeeded() and "callback raised" in caplog.text
    assert read_all(client, "t") == [b"v"]            # sent once, not retried


def test_close_is_idempotent_and_refuses_sends(client):
    with client.producer(linger_ms=60000) as producer:
        future = producer.send("t", b"v")
    assert future.get() == 0
    producer.close()
    with pytest.raises(RuntimeError, match="Producer is closed"):
        producer.send("t", b"w")


def test_metrics(client):
    producer = client.producer(linger_ms=60000)
    producer.send("t", b"abc")
    assert producer.metrics["queued"] == 1
    producer.flush()
    m = producer.metrics
    assert (m["sent"], m["acked"], m["bytes"], m["queued"], m["in_flight"]) == (1, 1, 3, 0, 0)
