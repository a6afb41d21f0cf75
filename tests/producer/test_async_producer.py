"""``AsyncProducer``: awaitable sends batched by a background sender (client-api §7)."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from flymq import ProduceResult, ProducerConfig, RecordMetadata
from flymq.client.producer import AsyncProducer

from .conftest import read_all


def test_gather_of_1000_sends_is_batched(client, wrapped):
    c, wrapper = wrapped()
    producer = AsyncProducer(c, "a", config=ProducerConfig(linger_ms=60000,
                                                          max_batch_messages=100))

    async def main():
        results = await asyncio.gather(*[producer.send(b"%d" % i) for i in range(1000)])
        await producer.close()
        return results

    results = asyncio.run(main())
    assert results == list(range(1000)) and isinstance(results[0], RecordMetadata)
    assert results[7].topic == "a" and results[7].offset == 7 and results[7].partition == 0
    assert len(wrapper.calls) <= 10 and sum(wrapper.calls) == 1000
    assert read_all(client, "a")[999] == b"999"


def test_sync_use_with_callbacks(client):
    seen = []
    with AsyncProducer(client) as producer:
        future = producer.send("t", b"v", callback=lambda r, e: seen.append((r, e)))
        assert isinstance(future, concurrent.futures.Future)
        assert future.result(timeout=4) == 0
    assert isinstance(seen[0][0], ProduceResult) and seen[0][0].offset == 0
    with pytest.raises(RuntimeError, match="Producer is not running"):
        producer.send("t", b"w")


def test_errors_resolve_futures(client):
    producer = AsyncProducer(client, config=ProducerConfig(retries=0))

    async def main():
        return await asyncio.gather(producer.send("bad#topic", b"v"), return_exceptions=True)

    [error] = asyncio.run(main())
    assert "invalid topic name" in str(error)
    producer.close()


def test_async_with_and_restart(client):
    producer = AsyncProducer(client, "t")

    async def main():
        async with producer:
            return await producer.send(b"v")

    assert asyncio.run(main()) == 0
    producer.stop()                       # idempotent
    producer.start()                      # an explicit start runs it again
    assert producer.send(b"w").result(timeout=4) == 1
    producer.close()


def test_queue_size_bounds_unacknowledged_records(client, wrapped):
    c, wrapper = wrapped()
    wrapper.block()
    producer = AsyncProducer(c, "t", queue_size=1,
                             config=ProducerConfig(max_block_ms=20, max_batch_messages=1))
    producer.send(b"a")
    assert wrapper.entered.wait(5)
    with pytest.raises(TimeoutError):
        producer.send(b"b")
    wrapper.gate.set()
    producer.close()
