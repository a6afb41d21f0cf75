"""HighLevelConsumer, Consumer and ConsumerGroup on both transports."""

from __future__ import annotations

import threading

import pytest

import flymq

from flymq import (
    Consumer, ConsumerConfig, ConsumerError, ConsumerGroup, ConsumerGroupNotFoundError,
    HighLevelConsumer,
)
from flymq.clock import ManualClock


def _fill(client, topic="t", partitions=3, per_partition=2):
    client.create_topic(topic, partitions=partitions)
    for p in range(partitions):
        for i in range(per_partition):
            client.produce(topic, f"{topic}-{p}-{i}", partition=p)


def _committed(client, topic, group, partition=0):
    """The committed offset, or None when the group has none for that partition."""
    try:
        offsets = client.describe_consumer_group(topic, group)["offsets"]
    except ConsumerGroupNotFoundError:
        return None
    return next((o["offset"] for o in offsets if o["partition"] == partition), None)


def _take(consumer, n):
    out = []
    for message in consumer:
        out.append(message)
        if len(out) == n:
            return out


def test_poll_reads_every_partition_from_earliest_by_default(client):
    _fill(client)
    consumer = client.consumer("t", "g")
    got = consumer.poll(timeout_ms=0)
    assert sorted(m.data for m in got) == sorted(
        f"t-{p}-{i}".encode() for p in range(3) for i in range(2))
    assert consumer.poll(timeout_ms=0) == []
    assert sorted(consumer.assignment()) == [("t", 0), ("t", 1), ("t", 2)]


def test_explicit_latest_starts_at_the_end(client):
    _fill(client)
    consumer = client.consumer(["t"], "g", auto_offset_reset="latest")
    assert consumer.poll(timeout_ms=0) == []
    client.produce("t", b"new", partition=1)
    assert [m.data for m in consumer.poll(timeout_ms=0)] == [b"new"]


def test_poll_respects_max_records(client):
    _fill(client, per_partition=4)
    consumer = client.consumer("t", "g", max_poll_records=5)
    assert len(consumer.poll(timeout_ms=0)) == 5
    assert len(consumer.poll(timeout_ms=0, max_records=2)) == 2
    assert len(consumer.poll(timeout_ms=0, max_records=100)) == 5


def test_iteration_commits_last_yielded_plus_one_on_close(client):
    _fill(client, partitions=1, per_partition=5)
    consumer = client.consumer("t", "g")
    taken = _take(consumer, 2)
    assert [m.offset for m in taken] == [0, 1]
    consumer.close()  # auto-commit on: commits the position after the last yielded message
    assert client.get_committed_offset("t", "g") == 2
    resumed = client.consumer("t", "g", auto_offset_reset="latest")
    assert [m.offset for m in resumed.poll(timeout_ms=0)] == [2, 3, 4]


def test_commit_mid_batch_does_not_skip_unprocessed(client):
    _fill(client, partitions=1, per_partition=5)
    consumer = client.consumer("t", "g", auto_commit=False)
    for message in consumer:
        if message.offset == 1:
            consumer.commit()
            break
    assert client.get_committed_offset("t", "g") == 2


def test_close_without_auto_commit_commits_nothing(client):
    _fill(client, partitions=1, per_partition=3)
    consumer = client.consumer("t", "g", enable_auto_commit=False)
    consumer.poll(timeout_ms=0)
    consumer.close()
    consumer.close()
    assert client.consumer("t", "g").poll(timeout_ms=0)[0].offset == 0  # re-read from start
    with pytest.raises(ConsumerError, match="closed"):
        consumer.poll(timeout_ms=0)


def test_commit_async_callback_arity(client):
    _fill(client, partitions=2, per_partition=1)
    consumer = client.consumer("t", "g", auto_commit=False)
    consumer.poll(timeout_ms=0)
    calls = []
    consumer.commit_async(lambda offsets, error: calls.append((offsets, error)))
    consumer.commit_async(lambda error: calls.append(error))
    assert calls[0] == ({("t", 0): 1, ("t", 1): 1}, None)
    assert calls[1] is None
    assert client.get_committed_offset("t", "g", 1) == 1


def test_auto_commit_follows_the_interval(client):
    _fill(client, partitions=1, per_partition=4)
    clock = ManualClock()
    config = ConsumerConfig(group_id="g", auto_offset_reset="earliest",
                            auto_commit_interval_ms=1000)
    consumer = HighLevelConsumer(client, ["t"], "g", config, clock=clock)
    it = iter(consumer)
    next(it)
    next(it)
    assert _committed(client, "t", "g") is None
    clock.advance(1000)
    assert next(it).offset == 2  # resuming means offset 1 was processed: commit 2
    assert client.get_committed_offset("t", "g") == 2
    next(it)  # the interval has not elapsed again
    assert client.get_committed_offset("t", "g") == 2


def test_seek_and_position(client):
    _fill(client, partitions=2, per_partition=3)
    consumer = client.consumer("t", "g")
    consumer.poll(timeout_ms=0)
    assert consumer.position(0) == 3
    consumer.seek(0, 1)
    assert consumer.position(0) == 1
    assert [m.offset for m in consumer.poll(timeout_ms=0)] == [1, 2]
    consumer.seek_to_beginning()
    assert consumer.position(1) == 0 and len(consumer.poll(timeout_ms=0)) == 6
    consumer.seek_to_beginning(1, topic="t")
    consumer.seek_to_end()
    assert consumer.poll(timeout_ms=0) == [] and consumer.position(1, topic="t") == 3
    with pytest.raises(ConsumerError):
        consumer.position(9)


def test_seek_during_iteration_restarts_there(client):
    _fill(client, partitions=1, per_partition=3)
    consumer = client.consumer("t", "g", auto_commit=False)
    seen = []
    for message in consumer:
        seen.append(message.offset)
        if seen == [0, 1]:
            consumer.seek(0, 0)
        if len(seen) == 5:
            break
    assert seen == [0, 1, 0, 1, 2]


def test_wildcard_topics_and_filter(client):
    for topic in ("logs/app", "logs/db", "metrics"):
        client.produce(topic, b"ERROR in " + topic.encode())
        client.produce(topic, b"fine")
    consumer = client.consumer(["logs/#"], "g", filter="error")
    assert consumer.topics == ["logs/app", "logs/db"]
    assert sorted(m.data for m in consumer.poll(timeout_ms=0)) == [
        b"ERROR in logs/app", b"ERROR in logs/db"]
    assert consumer.position(0, topic="logs/db") == 2  # filtered records count as read


def test_context_manager_and_properties(client):
    client.produce("t", b"x")
    with client.consumer("t", "g") as consumer:
        assert consumer.group_id == "g" and consumer.topics == ["t"]
        _take(consumer, 1)
    assert client.get_committed_offset("t", "g") == 1


def test_iteration_ends_when_closed_from_another_thread(client):
    client.produce("t", b"x")
    consumer = client.consumer("t", "g")
    got = []

    def closer():
        consumer.close()

    for message in consumer:
        got.append(message)
        threading.Thread(target=closer).start()
    assert [m.data for m in got] == [b"x"]


# --- low-level Consumer ---------------------------------------------------------------------

def test_consumer_without_group_starts_at_zero(client):
    _fill(client, partitions=2, per_partition=3)
    consumer = Consumer(client, "t", partition=1)
    assert consumer.group_id == "" and consumer.offset == 0
    assert [m.data for m in consumer.poll(max_records=2)] == [b"t-1-0", b"t-1-1"]
    assert consumer.consume().data == b"t-1-2" and consumer.consume() is None
    consumer.commit()  # no group: nothing happens
    assert consumer.get_committed_offset() is None and consumer.get_lag() is None
    consumer.seek(1)
    assert consumer.get_position() == 1
    consumer.seek_to_beginning()
    assert consumer.get_position() == 0
    consumer.close()
    with pytest.raises(ConsumerError):
        consumer.poll()


def test_consumer_with_group(client):
    _fill(client, partitions=1, per_partition=3)
    latest = Consumer(client, "t", group_id="g")
    assert latest.offset == 3
    earliest = Consumer(client, "t", group_id="g2",
                        config=ConsumerConfig(auto_offset_reset="earliest"))
    assert earliest.offset == 0
    earliest.poll(max_records=2)
    earliest.commit()
    assert earliest.get_committed_offset() == 2 and earliest.get_lag() == 1
    earliest.seek_to_end()
    assert earliest.get_position() == 3
    assert earliest.subscribe() == 2  # back to the committed offset
    with earliest:
        assert next(iter(earliest)).offset == 2


# --- ConsumerGroup ----------------------------------------------------------------------------

def test_consumer_group_handler_sees_every_partition(client):
    _fill(client, partitions=2, per_partition=2)
    seen, done = [], threading.Event()

    def handler(message):
        seen.append(message.data)
        if len(seen) == 4:
            done.set()

    config = ConsumerConfig(auto_offset_reset="earliest")
    with ConsumerGroup(client, "t", group_id="g", handler=handler, config=config) as group:
        assert done.wait(5)
        assert group.running
    assert not group.running
    assert sorted(seen) == [b"t-0-0", b"t-0-1", b"t-1-0", b"t-1-1"]
    assert client.get_committed_offset("t", "g", 1) == 2  # stop commits with auto-commit on
    assert group.get_lag() == {"t": 0}


def test_consumer_group_buffers_without_handler(client):
    _fill(client, partitions=1, per_partition=2)
    group = ConsumerGroup(client, ["t"], group_id="g",
                          config=ConsumerConfig(auto_offset_reset="earliest",
                                                enable_auto_commit=False))
    group.start()
    try:
        got = []
        while len(got) < 2:
            got += group.poll(timeout_ms=2000)
        assert [m.data for m in got] == [b"t-0-0", b"t-0-1"]
    finally:
        group.stop()
    group.reset_offsets_to_latest()
    assert group.describe()["t"]["group_id"] == "g"
    assert client.get_committed_offset("t", "g") == 2


def _behind_retention(client, broker, clock, topic="r"):
    """A topic whose first segments were deleted by retention; returns (start, end)."""
    client.create_topic(topic, 1, config={"retention_ms": 1000, "segment_bytes": 1024})
    for _ in range(40):
        client.produce(topic, b"x" * 100)
    clock.advance(5000)
    client.produce(topic, b"fresh")
    assert broker.apply_retention() >= 1
    start, end = client.partition_offsets(topic)
    assert 0 < start < end == 41
    return start, end


@pytest.mark.parametrize("reset", ["earliest", "latest"])
def test_high_level_consumer_behind_retention_resets_by_policy(client, flymq_broker,
                                                               flymq_clock, reset):
    client.create_topic("r", 1, config={"retention_ms": 1000, "segment_bytes": 1024})
    consumer = client.consumer("r", group_id="g", auto_offset_reset=reset,
                               enable_auto_commit=False)       # empty topic: at offset 0
    assert consumer.position(0) == 0
    start, end = _behind_retention(client, flymq_broker, flymq_clock)
    assert consumer.poll(timeout_ms=0) == []                  # 0 is gone: reset, not stuck
    got = consumer.poll(timeout_ms=0)
    if reset == "earliest":
        assert [m.offset for m in got] == list(range(start, end))
    else:
        assert got == [] and consumer.position(0) == end
    consumer.close()


def test_low_level_consumer_behind_retention_resumes_at_log_start(client, flymq_broker,
                                                                  flymq_clock):
    consumer = Consumer(client, "r", config=ConsumerConfig(auto_offset_reset="earliest"))
    start, end = _behind_retention(client, flymq_broker, flymq_clock)
    assert consumer.poll() == []
    assert [m.offset for m in consumer.poll()] == list(range(start, end))


def test_partition_offsets_and_seek_to_timestamp(client, flymq_clock):
    client.create_topic("ts", 2)
    client.produce("ts", b"old", partition=1)
    flymq_clock.advance(1000)
    cut = flymq_clock.now_ms()
    client.produce("ts", b"new", partition=1)
    assert client.partition_offsets("ts", 1) == (0, 2)
    assert client.partition_offsets("ts", 0) == (0, 0)
    assert client.offset_for_timestamp("ts", 1, cut) == 1
    assert client.offset_for_timestamp("ts", 1, cut + 60_000) == 2      # all older: the end
    from datetime import datetime
    assert client.offset_for_timestamp("ts", 1, datetime.fromtimestamp(cut / 1000)) == 1
    with client.consumer("ts", group_id="g", enable_auto_commit=False) as consumer:
        consumer.seek_to_timestamp(cut)
        assert [m.data for m in consumer.poll(timeout_ms=0)] == [b"new"]
        assert consumer.position(0) == 0 and consumer.position(1) == 2


@pytest.fixture
def slow_idle_steps(monkeypatch):
    """Idle steps far longer than any test: only a wake-up can end a wait early."""
    from flymq.client import consumer
    monkeypatch.setattr(consumer, "IDLE_BACKOFF_S", 60.0)


@pytest.mark.timeout(10)  # less than the poll timeout: only the wake-up can pass this
@pytest.mark.parametrize("endpoint", ["local"], indirect=True)
def test_embedded_poll_wakes_on_the_first_new_record_of_any_partition(client, slow_idle_steps):
    client.create_topic("w", 3)
    consumer = client.consumer("w", "g")
    assert consumer.poll(timeout_ms=0) == []
    timer = threading.Timer(0.2, lambda: client.produce("w", b"late", partition=2))
    timer.start()
    try:
        messages = consumer.poll(timeout_ms=20_000)  # returns on the record, not after 20 s
    finally:
        timer.join()
    assert [(m.partition, m.value) for m in messages] == [(2, b"late")]
    consumer.close()


@pytest.mark.timeout(10)
def test_close_ends_an_idle_poll_at_once(client, slow_idle_steps):
    client.create_topic("w", 2)
    consumer = client.consumer("w", "g", enable_auto_commit=False)
    raised: list[BaseException] = []

    def poll() -> None:
        try:
            consumer.poll(timeout_ms=20_000)
        except ConsumerError as exc:
            raised.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    threading.Timer(0.2, consumer.close).start()
    poller.join(timeout=10)
    assert not poller.is_alive()
    assert [str(e) for e in raised] == ["Consumer is closed"]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("endpoint", ["local"], indirect=True)
def test_a_closed_broker_ends_polls_iteration_commits_and_group_threads(
        client, flymq_broker, caplog):
    from flymq import BrokerClosedError

    _fill(client)
    consumer = client.consumer("t", "g")
    group = ConsumerGroup(client, "t", group_id="gg")
    group.start()
    assert len(consumer.poll(timeout_ms=0)) == 6
    flymq_broker.close()
    with pytest.raises(BrokerClosedError):
        consumer.poll(timeout_ms=5_000)
    with pytest.raises(BrokerClosedError):
        next(iter(consumer))
    with pytest.raises(BrokerClosedError):
        consumer.commit()                      # the positions were not committed: say so
    consumer.close()                           # logs the lost final commit, still closes
    assert "final commit failed" in caplog.text
    group._thread.join(timeout=5)
    assert not group.running


def test_a_closed_client_ends_polls(new_client):
    client = new_client()
    _fill(client)
    consumer = client.consumer("t", "g", enable_auto_commit=False)
    client.close()
    with pytest.raises(flymq.ConnectionClosedError):
        consumer.poll(timeout_ms=5_000)


@pytest.mark.timeout(10)  # less than the poll timeout: only the wake-up can pass this
@pytest.mark.parametrize("partitions", [1, 3])
def test_an_idle_poll_wakes_on_a_new_record_on_both_transports(client, slow_idle_steps,
                                                               partitions):
    client.create_topic("w", partitions)
    consumer = client.consumer("w", "g")
    assert consumer.poll(timeout_ms=0) == []
    timer = threading.Timer(0.3, lambda: client.produce("w", b"late", partition=partitions - 1))
    timer.start()
    try:
        messages = consumer.poll(timeout_ms=20_000)  # returns on the record, not after 20 s
    finally:
        timer.join()
    assert [(m.partition, m.value) for m in messages] == [(partitions - 1, b"late")]
    consumer.close()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("endpoint", ["tcp"], indirect=True)
def test_the_watch_connection_ends_with_the_client(new_client, slow_idle_steps):
    client = new_client()
    client.create_topic("w")
    consumer = client.consumer("w", "g", enable_auto_commit=False)
    closed: list[BaseException] = []

    def poll() -> None:
        try:
            consumer.poll(timeout_ms=3_000)
        except ConsumerError as exc:   # closed from the main thread below
            closed.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    deadline = threading.Event()
    while not any(t.name == "flymq-record-watch" for t in threading.enumerate()):
        assert not deadline.wait(0.01) and poller.is_alive()
    consumer.close()
    poller.join(timeout=10)
    client.close()                       # ends a long-poll in flight, and the thread
    assert not any(t.name == "flymq-record-watch" for t in threading.enumerate())
    assert [str(e) for e in closed] == ["Consumer is closed"]
