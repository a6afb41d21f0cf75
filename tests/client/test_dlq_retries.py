"""Retry backoff of the high-level consumer on both transports, driven by ``flymq_clock``
(never a sleep): iteration waits for a nacked message's backoff, ``poll()`` hands it out again
in a later poll, commits stop before a message still to be retried (docs/dead-letters.md)."""

from __future__ import annotations

import threading

import pytest

from flymq.clock import SYSTEM_CLOCK

BACKOFF_MS = 200


@pytest.fixture
def consumer_of(client, endpoint, flymq_clock):
    """Makes consumers on the test broker's clock: embedded by default (``client.clock``),
    over TCP passed as ``clock=``."""
    clock = flymq_clock if isinstance(endpoint, str) else None
    made = []

    def make(topic: str, **kwargs):
        consumer = client.consumer(topic, "g", retry_backoff_ms=BACKOFF_MS, clock=clock,
                                   **kwargs)
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.close()


def test_client_clock_is_the_embedded_brokers(client, endpoint, flymq_clock):
    assert client.clock is (SYSTEM_CLOCK if isinstance(endpoint, str) else flymq_clock)


def test_polled_message_is_polled_again_after_the_backoff(client, consumer_of, flymq_clock):
    client.produce("jobs", b"poison")
    client.produce("jobs", b"fine")
    consumer = consumer_of("jobs", max_retries=2, auto_commit=False)
    first, ok = consumer.poll(timeout_ms=0)
    consumer.nack(first, "boom")
    assert consumer.poll(timeout_ms=0) == []
    for attempt in (1, 2):
        flymq_clock.advance(BACKOFF_MS - 1)
        assert consumer.poll(timeout_ms=0) == []
        flymq_clock.advance(1)
        [again] = consumer.poll(timeout_ms=0)
        assert (again.data, again.offset, again.retry_count) == (b"poison", 0, attempt)
        consumer.nack(again, f"boom {attempt}")   # the last one routes it
    [entry] = client.fetch_dlq("jobs")
    assert (entry.data, entry.reason, entry.error, entry.retries) == (
        b"poison", "max_retries_exceeded", "boom 2", 2)
    flymq_clock.advance(BACKOFF_MS)
    assert consumer.poll(timeout_ms=0) == []
    assert ok.data == b"fine"


def test_dead_letter_of_a_polled_message_ends_its_retries(client, consumer_of, flymq_clock):
    client.produce("inbox", b"a")
    client.produce("inbox", b"b")
    consumer = consumer_of("inbox", auto_commit=False)
    a, b = consumer.poll(timeout_ms=0)
    consumer.nack(a, "first try")
    entry_a = consumer.dead_letter(a, "validation_failed", "not JSON")  # instead of its retry
    entry_b = consumer.dead_letter(b, "manual")
    flymq_clock.advance(BACKOFF_MS)
    assert consumer.poll(timeout_ms=0) == []
    assert [(e.id, e.data, e.reason) for e in client.fetch_dlq("inbox")] == [
        (entry_a, b"a", "validation_failed"), (entry_b, b"b", "manual")]


def test_commit_stops_before_a_message_waiting_for_its_retry(client, consumer_of, flymq_clock):
    for value in (b"m0", b"m1", b"m2"):
        client.produce("held", value)
    consumer = consumer_of("held", auto_commit=False)
    _, m1, _ = consumer.poll(timeout_ms=0)
    consumer.nack(m1, "later")
    consumer.commit()
    assert client.get_committed_offset("held", "g") == 1   # m1 is processed again after a crash
    flymq_clock.advance(BACKOFF_MS)
    assert [m.data for m in consumer.poll(timeout_ms=0)] == [b"m1"]
    consumer.commit()
    assert client.get_committed_offset("held", "g") == 3


def test_iteration_waits_for_the_clock_before_the_retry(client, consumer_of, flymq_clock):
    client.produce("it", b"poison")
    client.produce("it", b"next")
    consumer = consumer_of("it", max_retries=1)
    it = iter(consumer)
    first = next(it)
    consumer.nack(first, "boom")
    got = []
    waiter = threading.Thread(target=lambda: got.append(next(it)))
    waiter.start()
    flymq_clock.advance(BACKOFF_MS - 1)
    waiter.join(0.2)   # a negative check: still waiting for 1 ms of clock time
    assert waiter.is_alive() and got == []
    flymq_clock.advance(1)   # wakes the waiting iteration
    waiter.join(10)
    assert [(m.data, m.retry_count) for m in got] == [(b"poison", 1)]
    consumer.nack(got[0], "again")   # max_retries reached: to the DLQ, no wait
    assert (next(it).data, [e.retries for e in client.fetch_dlq("it")]) == (b"next", [1])


def test_process_retries_follow_the_clock(client, consumer_of, flymq_clock):
    client.produce("work", b"bad")
    client.produce("work", b"stop")
    attempts = []
    consumer = consumer_of("work", max_retries=3)

    def handler(message):
        attempts.append(message.retry_count)
        if message.data == b"stop":
            consumer.close()
            return
        raise ValueError("cannot parse")

    worker = threading.Thread(target=consumer.process, args=(handler,))
    worker.start()
    for _ in range(1000):   # each move makes the pending retry due; nothing sleeps
        if not worker.is_alive():
            break
        flymq_clock.advance(BACKOFF_MS)
        worker.join(0.01)
    worker.join(10)
    assert not worker.is_alive()
    assert attempts == [0, 1, 2, 3, 0]
    [entry] = client.fetch_dlq("work")
    assert entry.error == "ValueError: cannot parse" and entry.retries == 3


def test_retry_backoff_must_not_be_negative(client):
    with pytest.raises(ValueError, match="retry_backoff_ms"):
        client.consumer("t", "g", retry_backoff_ms=-1)
