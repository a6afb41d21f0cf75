"""Damaged partitions, on both transports: reads return the records before the damage and then
a CorruptRecordError that names topic, partition and offsets; consumers raise it instead of
waiting in silence; zero padding after a sealed segment loses nothing (issue 16 point 3)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from flymq import ConsumerConfig, ConsumerGroup, CorruptRecordError, error_from_wire
from flymq.broker import BrokerConfig
from flymq.broker.topic_dirs import topic_dirname
from flymq.protocol import messages as m
from flymq.protocol.opcodes import Op

RECORDS, PER_BATCH = 2000, 50


@pytest.fixture
def flymq_broker_config() -> BrokerConfig:
    return BrokerConfig(segment_bytes=64 * 1024, fsync="never")


def _fill(broker) -> list[Path]:
    """RECORDS records in batches of PER_BATCH, several sealed segments; the broker closed."""
    broker.create_topic("t", 1)
    for start in range(0, RECORDS, PER_BATCH):
        broker.produce_batch("t", [(None, b"v%05d" % i + b"x" * 100, 0)
                                   for i in range(start, start + PER_BATCH)])
    broker.close()
    segments = sorted((broker.data_dir / "topics" / topic_dirname("t") / "0").glob("*.log"))
    assert len(segments) > 2
    return segments


def _flip_a_bit(broker) -> tuple[int, int]:
    """Damage the 3rd batch of the 2nd segment; restart; the offsets it held."""
    segment = _fill(broker)[1]
    data = bytearray(segment.read_bytes())
    batch = len(data) // ((int(_next_base(segment)) - int(segment.stem)) // PER_BATCH)
    data[2 * batch + 200] ^= 0x04
    segment.write_bytes(bytes(data))
    broker.restart()
    bad = int(segment.stem) + 2 * PER_BATCH
    return bad, bad + PER_BATCH


def _next_base(segment: Path) -> str:
    later = sorted(segment.parent.glob("*.log"))
    return later[later.index(segment) + 1].stem


def _read_all(client, size: int) -> list[int]:
    offset, got = 0, []
    while True:
        result = client.fetch("t", 0, offset, size)
        if not result.messages:
            return got
        got += [msg.offset for msg in result.messages]
        offset = result.next_offset


def test_zero_padding_after_a_sealed_segment_is_its_end(flymq_broker, new_client):
    first = _fill(flymq_broker)[0]
    with open(first, "ab") as f:
        f.write(b"\0" * 100)
    flymq_broker.restart()
    client = new_client()
    assert _read_all(client, 500) == list(range(RECORDS))
    consumer = client.consumer("t", "g")
    got: list[int] = []
    while len(got) < RECORDS:
        got += [msg.offset for msg in consumer.poll(timeout_ms=2000, max_records=500)]
    assert got == list(range(RECORDS))
    consumer.close()


def _check(exc: CorruptRecordError, bad: int, end: int) -> None:
    assert (exc.topic, exc.partition, exc.first_offset, exc.end_offset) == ("t", 0, bad, end)
    assert f"t partition 0: offsets {bad}-{end - 1} unreadable" in str(exc)


def test_fetch_gives_the_good_records_then_a_precise_error(flymq_broker, new_client):
    bad, end = _flip_a_bit(flymq_broker)
    client = new_client()
    with pytest.raises(CorruptRecordError) as caught:
        _read_all(client, 500)
    _check(caught.value, bad, end)
    got = client.fetch("t", 0, bad - 10, 500)
    assert [msg.offset for msg in got.messages] == list(range(bad - 10, bad))
    assert got.next_offset == bad
    for offset in (bad, end - 1):
        with pytest.raises(CorruptRecordError) as caught:
            client.fetch("t", 0, offset, 500)
        _check(caught.value, bad, end)
        with pytest.raises(CorruptRecordError):
            client.consume("t", offset)
    assert client.consume("t", bad - 1).offset == bad - 1
    matched = client.fetch("t", 0, bad - 10, 500, filter="v0")  # a filter reads on: same
    assert [msg.offset for msg in matched.messages] == list(range(bad - 10, bad))
    assert client.fetch("t", 0, end, 10).messages[0].offset == end  # skipping, on request
    transport = client._transport
    if hasattr(transport, "_call"):  # TCP: the standard FETCH and FETCH_BINARY say the same
        for op in (Op.FETCH, Op.FETCH_BINARY):
            with pytest.raises(CorruptRecordError) as caught:
                transport._call(op, m.FetchRequest("t", 0, bad, 100))
            _check(caught.value, bad, end)


def test_consumers_raise_the_damage(flymq_broker, new_client):
    bad, end = _flip_a_bit(flymq_broker)
    client = new_client()
    consumer = client.consumer("t", "g")
    got: list[int] = []
    with pytest.raises(CorruptRecordError) as caught:
        for _ in range(100):
            got += [msg.offset for msg in consumer.poll(timeout_ms=100, max_records=500)]
    assert got == list(range(bad))
    _check(caught.value, bad, end)
    consumer.seek(0, caught.value.end_offset, topic="t")   # the application skips the damage
    rest: list[int] = []
    while len(rest) < RECORDS - end:
        rest += [msg.offset for msg in consumer.poll(timeout_ms=2000, max_records=500)]
    assert rest == list(range(end, RECORDS))
    consumer.close()

    iterating = client.consumer("t", "g2")
    seen: list[int] = []
    with pytest.raises(CorruptRecordError):
        for msg in iterating:
            seen.append(msg.offset)
    assert seen == list(range(bad))
    iterating.close()


def test_a_consumer_group_thread_reports_the_damage(flymq_broker, new_client):
    bad, end = _flip_a_bit(flymq_broker)
    client = new_client()
    config = ConsumerConfig(group_id="g", auto_offset_reset="earliest")
    reported: list[CorruptRecordError] = []
    got: list[int] = []
    seen = threading.Event()
    with ConsumerGroup(client, "t", group_id="g", config=config,
                       handler=lambda msg: got.append(msg.offset),
                       on_error=lambda exc: (reported.append(exc), seen.set())) as group:
        assert seen.wait(10)
        fetches = threading.Semaphore(0)
        fetch = client.fetch

        def counted_fetch(*args, **kwargs):
            try:
                return fetch(*args, **kwargs)
            finally:
                fetches.release()
        client.fetch = counted_fetch
        for _ in range(3):   # more fetches of the damaged partition: still reported once
            assert fetches.acquire(timeout=10)
        group.stop()
    assert got == list(range(bad)) and len(reported) == 1   # once, not at every poll
    _check(reported[0], bad, end)

    buffered = ConsumerGroup(client, "t", group_id="g2",
                             config=ConsumerConfig(group_id="g2", auto_offset_reset="earliest"))
    polled: list[int] = []
    with buffered, pytest.raises(CorruptRecordError) as caught:
        for _ in range(1000):
            polled += [msg.offset for msg in buffered.poll(timeout_ms=100)]
    assert polled == list(range(bad))
    _check(caught.value, bad, end)


@pytest.mark.parametrize("topic, partition", [("a b/c", 3), ("__transactions", None)])
def test_the_wire_text_maps_back_to_every_field(topic, partition):
    sent = CorruptRecordError("/d/0.log", 10, "CRC-32C mismatch: x", topic=topic,
                              partition=partition, offsets=(5, 9), end_position=99)
    got = error_from_wire(sent.wire)
    assert type(got) is CorruptRecordError and got.wire == sent.wire
    assert (got.topic, got.partition, got.first_offset, got.end_offset) == (topic, partition, 5, 9)
    assert (got.path, got.position, got.end_position, got.detail) == \
        ("/d/0.log", 10, 99, "CRC-32C mismatch: x")
    bare = CorruptRecordError("/d/0.log", 10, "bad batch length 0")
    assert type(error_from_wire(bare.wire)) is CorruptRecordError
