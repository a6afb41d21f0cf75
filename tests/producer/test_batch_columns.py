"""Batches stored as columns: keyless sends take the short path, mixed batches stay exact."""

from __future__ import annotations

import pytest

from flymq import ProducerConfig
from flymq.client.batching import Batch
from flymq.client.producer import Producer
from flymq.errors import TimeoutError

from .conftest import read_all

QUEUED = dict(linger_ms=60000, retry_backoff_ms=1)


def test_batch_columns_appear_only_when_needed():
    batch = Batch("t", 0.0)
    batch.add(None, b"a", -1, None)
    assert batch.plain and batch.sinks is None
    sink = lambda meta, error: None  # noqa: E731
    batch.add(b"k", b"b", -1, sink)
    batch.add(None, b"c", 2, None)
    assert batch.records == [(None, b"a", -1), (b"k", b"b", -1), (None, b"c", 2)]
    assert batch.sinks == {1: sink} and not batch.plain


def test_mixed_sends_keep_order_callbacks_and_metadata(client):
    client.create_topic("t")
    producer = Producer(client, "t", config=ProducerConfig(**QUEUED))
    seen = []
    for i in range(10):
        if i % 3 == 0:
            producer.send(b"%d" % i, key=b"k%d" % i,
                          callback=lambda r, e, i=i: seen.append((i, r.offset, e)))
        else:
            producer.send(b"%d" % i)
    producer.flush()
    assert read_all(client, "t") == [b"%d" % i for i in range(10)]
    assert seen == [(i, i, None) for i in (0, 3, 6, 9)]
    assert producer.metrics["acked"] == 10
    producer.close()


def test_high_level_futures_with_keys_and_plain(client):
    client.create_topic("t")
    producer = client.producer(linger_ms=60000)
    futures = [producer.send("t", b"%d" % i, key=b"k" if i == 2 else None) for i in range(4)]
    producer.flush()
    metas = [f.get() for f in futures]
    assert [m.offset for m in metas] == [0, 1, 2, 3]
    producer.close()


def test_plain_sends_stay_bounded_by_buffer_memory(client, wrapped):
    c, wrapper = wrapped()
    c.create_topic("t")
    wrapper.block()
    producer = Producer(c, "t", config=ProducerConfig(buffer_memory=1000, max_block_ms=50,
                                                      **QUEUED))
    for _ in range(10):
        producer.send(b"x" * 100)
    with pytest.raises(TimeoutError):
        producer.send(b"x" * 100)
    assert producer.metrics["queued"] + producer.metrics["in_flight"] == 10
    wrapper.gate.set()
    producer.flush()
    assert producer.metrics["acked"] == 10
    producer.close()
