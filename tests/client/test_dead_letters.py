"""Dead-letter queues on both transports: routing by the high-level consumer with retries,
fetch with offset and count, replay (which removes the entry), re-inject and purge
(docs/dead-letters.md)."""

from __future__ import annotations

import threading

import pytest

from flymq.errors import DeadLetterNotFoundError, InvalidRequestError, TopicNotFoundError


def test_nacked_message_is_retried_then_dead_lettered(client):
    # retry_backoff_ms=0: retried at once (tests/client/test_dlq_retries.py moves the clock)
    client.produce("jobs", b"poison", key=b"k1")
    client.produce("jobs", b"fine")
    with client.consumer("jobs", "workers", max_retries=2, retry_backoff_ms=0) as consumer:
        it = iter(consumer)
        seen = []
        for _ in range(3):
            message = next(it)
            seen.append((message.data, message.retry_count))
            consumer.nack(message, "boom")
        ok = next(it)
        assert seen == [(b"poison", 0), (b"poison", 1), (b"poison", 2)]
        assert (ok.data, ok.retry_count) == (b"fine", 0)
    [entry] = client.fetch_dlq("jobs")
    assert (entry.data, entry.key, entry.topic, entry.original_partition,
            entry.original_offset) == (b"poison", b"k1", "jobs", 0, 0)
    assert (entry.reason, entry.error, entry.retries) == ("max_retries_exceeded", "boom", 2)
    assert entry.id.startswith("jobs-0-") and entry.offset == 0
    assert "jobs.dlq" in client.list_topics()


def test_handler_exceptions_route_through_process(client):
    client.produce("work", b"bad")
    client.produce("work", b"stop")
    attempts = []
    consumer = client.consumer("work", "g", max_retries=3, retry_backoff_ms=0)

    def handler(message):
        attempts.append(message.retry_count)
        if message.data == b"stop":
            consumer.close()
            return
        raise ValueError("cannot parse")

    worker = threading.Thread(target=consumer.process, args=(handler,))
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    assert attempts == [0, 1, 2, 3, 0]
    [entry] = client.fetch_dlq("work")
    assert entry.error == "ValueError: cannot parse" and entry.retries == 3


def test_explicit_dead_letter_and_its_reason(client):
    client.produce("inbox", b"spam")
    with client.consumer("inbox", "g") as consumer:
        message = next(iter(consumer))
        entry_id = consumer.dead_letter(message, "validation_failed", "not JSON")
        with pytest.raises(InvalidRequestError):
            consumer.dead_letter(message, "because")
    [entry] = client.fetch_dlq("inbox")
    assert (entry.id, entry.reason, entry.error, entry.retries) == (
        entry_id, "validation_failed", "not JSON", 0)


def test_replay_keeps_key_and_headers_and_removes_the_entry(client):
    client.create_topic("orders", 3)
    md = client.produce("orders", b"o1", key=b"cust-7")
    client.dead_letter("orders", md.partition, md.offset, reason="processing_error",
                       error="db down", retry_count=5)
    [entry] = client.fetch_dlq("orders")
    client.replay_dlq("orders", entry.id)
    again = client.fetch("orders", md.partition, md.offset + 1, 10).messages
    assert [(m.data, m.key) for m in again] == [(b"o1", b"cust-7")]
    assert client.fetch_dlq("orders") == []
    with pytest.raises(DeadLetterNotFoundError) as info:
        client.replay_dlq("orders", entry.id)
    assert info.value.hint


def test_re_inject_by_offset(client):
    for i in range(3):
        md = client.produce("ri", b"m%d" % i)
        client.dead_letter("ri", 0, md.offset)
    assert client.re_inject_dlq("ri", 1) is True
    assert client.re_inject_dlq("ri", 1) is False      # removed
    assert client.re_inject_dlq("ri", 99) is False
    assert [e.offset for e in client.fetch_dlq("ri")] == [0, 2]
    assert [m.data for m in client.fetch("ri", 0, 3, 10).messages] == [b"m1"]


def test_fetch_with_offset_and_count(client):
    for i in range(7):
        md = client.produce("page", b"p%d" % i)
        client.dead_letter("page", 0, md.offset, error=f"e{i}")
    first = client.fetch_dlq("page", 3)
    rest = client.fetch_dlq("page", 10, offset=first[-1].offset + 1)
    assert [e.data for e in first + rest] == [b"p%d" % i for i in range(7)]
    assert [e.offset for e in rest] == [3, 4, 5, 6]


def test_purge(client):
    md = client.produce("p", b"x")
    client.dead_letter("p", 0, md.offset)
    client.purge_dlq("p")
    assert client.fetch_dlq("p") == []
    client.purge_dlq("p")  # nothing left: still fine


@pytest.mark.parametrize("call", [
    lambda c: c.fetch_dlq("missing"), lambda c: c.replay_dlq("missing", "x"),
    lambda c: c.purge_dlq("missing"), lambda c: c.re_inject_dlq("missing", 0)])
def test_operations_on_a_missing_topic_fail_with_a_hint(client, call):
    with pytest.raises(TopicNotFoundError) as info:
        call(client)
    assert info.value.hint


def test_dead_lettered_ttl_record_stays_expired_after_replay(client, flymq_clock):
    md = client.produce_with_ttl("short", b"brief", 1000)
    client.dead_letter("short", 0, md.offset)
    [entry] = client.fetch_dlq("short")
    flymq_clock.advance(1000)
    client.replay_dlq("short", entry.id)
    assert [m.data for m in client.fetch("short", 0, 0, 10).messages] == []
