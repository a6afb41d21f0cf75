"""The shared batching engine: retries, ordering, memory bound, metrics (both transports)."""

from __future__ import annotations

import threading

import pytest

from flymq import InvalidTopicNameError, NotLeaderError, ProducerConfig, TopicNotFoundError
from flymq.client.producer import Producer
from flymq.errors import ConnectionClosedError, TimeoutError

from .conftest import read_all

QUEUED = dict(linger_ms=60000, retry_backoff_ms=1)


@pytest.mark.parametrize("error", [ConnectionClosedError, TimeoutError, NotLeaderError])
def test_retriable_error_is_retried_in_order(client, wrapped, error):
    c, wrapper = wrapped(fail_first=2, error=error)
    producer = Producer(c, "t", config=ProducerConfig(retries=3, **QUEUED))
    for i in range(5):
        producer.send(b"%d" % i)
    producer.flush()
    assert wrapper.calls == [5, 5, 5]
    assert read_all(client, "t") == [b"0", b"1", b"2", b"3", b"4"]
    metrics = producer.metrics
    assert (metrics["sent"], metrics["retried"], metrics["acked"], metrics["failed"]) == \
        (5, 10, 5, 0)


def test_retries_are_bounded(client, wrapped):
    c, wrapper = wrapped(fail_first=10)
    producer = Producer(c, "t", config=ProducerConfig(retries=2, **QUEUED))
    producer.send(b"a")
    with pytest.raises(ConnectionClosedError):
        producer.flush()
    assert wrapper.calls == [1, 1, 1] and producer.metrics["failed"] == 1


def test_linger_zero_retries_too(client, wrapped):
    c, wrapper = wrapped(fail_first=1)
    producer = Producer(c, "t", config=ProducerConfig(retry_backoff_ms=1))
    assert producer.send(b"a").offset == 0
    assert wrapper.calls == [1, 1]


@pytest.mark.parametrize("error", [lambda: TopicNotFoundError("t"),
                                   lambda: InvalidTopicNameError("t", "bad")])
def test_non_retriable_error_fails_at_once(client, wrapped, error):
    c, wrapper = wrapped(fail_first=1, error=error)
    producer = Producer(c, "t", config=ProducerConfig(retries=5, **QUEUED))
    producer.send(b"a")
    with pytest.raises(type(error())):
        producer.flush()
    assert wrapper.calls == [1]


def test_topic_not_found_with_auto_create_off_is_not_retried(client, flymq_broker, wrapped):
    flymq_broker.config.auto_create_topics = False
    c, wrapper = wrapped()
    producer = Producer(c, "nope", config=ProducerConfig(retries=5, **QUEUED))
    producer.send(b"a")
    with pytest.raises(TopicNotFoundError):
        producer.flush()
    assert wrapper.calls == [1]


def test_per_key_order_with_several_threads(client):
    client.create_topic("orders", partitions=3)
    producer = Producer(client, "orders", config=ProducerConfig(
        linger_ms=60000, max_batch_messages=7, batch_size=300))
    threads = [threading.Thread(target=lambda k=k: [
        producer.send(f"{k}:{i}".encode(), key=f"user-{k}") for i in range(200)])
        for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    producer.flush()
    seen: dict[str, list[int]] = {}
    for partition in range(3):
        for value in read_all(client, "orders", partition):
            key, i = value.decode().split(":")
            seen.setdefault(key, []).append(int(i))
    assert seen == {str(k): list(range(200)) for k in range(4)}


def test_buffer_memory_blocks_then_raises(client, wrapped):
    c, wrapper = wrapped()
    wrapper.block()
    producer = Producer(c, "t", config=ProducerConfig(
        linger_ms=60000, max_batch_messages=1, buffer_memory=100, max_block_ms=50))
    producer.send(b"x" * 60)
    assert wrapper.entered.wait(5)       # in flight, holding 60 of 100 bytes
    with pytest.raises(TimeoutError, match="buffer is full") as info:
        producer.send(b"y" * 60)
    assert "buffer_memory" in info.value.hint
    wrapper.gate.set()
    producer.flush()
    producer.send(b"z" * 60)             # space again once acknowledged
    producer.flush()
    assert read_all(client, "t") == [b"x" * 60, b"z" * 60]


def test_blocked_send_resumes_when_space_frees(client, wrapped):
    c, wrapper = wrapped()
    wrapper.block()
    producer = Producer(c, "t", config=ProducerConfig(
        linger_ms=60000, max_batch_messages=1, buffer_memory=100, max_block_ms=5000))
    producer.send(b"x" * 60)
    assert wrapper.entered.wait(5)
    done = threading.Event()
    sender = threading.Thread(target=lambda: (producer.send(b"y" * 60), done.set()))
    sender.start()
    assert not done.is_set()
    wrapper.gate.set()
    sender.join(5)
    producer.flush()
    assert done.is_set() and read_all(client, "t") == [b"x" * 60, b"y" * 60]


def test_flush_timeout(client, wrapped):
    c, wrapper = wrapped()
    wrapper.block()
    producer = Producer(c, "t", config=ProducerConfig(linger_ms=60000))
    producer.send(b"a")
    with pytest.raises(TimeoutError, match="1 records not acknowledged"):
        producer.flush(timeout_ms=20)
    wrapper.gate.set()
    producer.flush()


def test_requests_carry_producer_id_and_contiguous_sequences(client, wrapped):
    c, wrapper = wrapped()
    sent = []
    inner = wrapper.append_batch
    wrapper.append_batch = lambda topic, records, **options: (
        sent.append((len(records), options["producer"])) or inner(topic, records, **options))
    client.create_topic("t", 1)
    producer = Producer(c, "t", config=ProducerConfig(linger_ms=0))
    for _ in range(3):
        producer.send(b"v")
    ids = {producer_id for _, (producer_id, _, _) in sent}
    assert len(ids) == 1 and ids.pop() >= 0
    assert [(n, seq) for n, (_, _, seq) in sent] == [(1, 0), (1, 1), (1, 2)]
