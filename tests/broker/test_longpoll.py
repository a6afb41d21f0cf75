"""Waking readers: Broker.watch and fetch(max_wait_ms) (no sleeps; threads and events)."""

from __future__ import annotations

import threading

import pytest

from flymq.broker import Broker
from flymq.errors import TopicNotFoundError


def test_watch_fires_once_when_data_arrives(broker: Broker) -> None:
    broker.create_topic("t")
    fired = threading.Event()
    calls = []
    broker.watch("t", 0, 0, lambda: (calls.append(1), fired.set()))
    assert not fired.is_set()
    threading.Thread(target=broker.produce, args=("t", b"v")).start()
    assert fired.wait(5)
    broker.produce("t", b"w")
    assert calls == [1]


def test_watch_fires_at_once_when_data_exists(broker: Broker) -> None:
    broker.produce("t", b"v")
    calls = []
    broker.watch("t", 0, 0, lambda: calls.append(1))
    assert calls == [1]
    broker.watch("t", 0, 1, lambda: calls.append(2))
    assert calls == [1]


def test_cancelled_watch_never_fires(broker: Broker) -> None:
    broker.create_topic("t")
    calls = []
    cancel = broker.watch("t", 0, 0, lambda: calls.append(1))
    cancel()
    broker.produce("t", b"v")
    assert calls == []


def test_watch_fires_when_the_topic_goes_away(broker: Broker) -> None:
    broker.create_topic("t")
    fired = threading.Event()
    broker.watch("t", 0, 0, fired.set)
    broker.delete_topic("t")
    assert fired.is_set()
    with pytest.raises(TopicNotFoundError):
        broker.watch("t", 0, 0, fired.set)


def test_fetch_waits_for_new_records(broker: Broker) -> None:
    broker.create_topic("t")
    result = {}
    waiting = threading.Event()

    def reader() -> None:
        waiting.set()
        result["r"] = broker.fetch("t", 0, 0, 10, max_wait_ms=10_000)

    thread = threading.Thread(target=reader)
    thread.start()
    waiting.wait(5)
    # whether the reader is already blocked or not, it must see the record
    broker.produce("t", b"hello")
    thread.join(5)
    assert not thread.is_alive()
    assert [m.data for m in result["r"]] == [b"hello"] and result["r"].next_offset == 1


def test_fetch_without_data_returns_after_the_wait(broker: Broker) -> None:
    broker.create_topic("t")
    r = broker.fetch("t", 0, 0, 10, max_wait_ms=1)
    assert len(r) == 0 and r.next_offset == 0


def test_blocked_fetch_is_released_by_topic_deletion(broker: Broker) -> None:
    broker.create_topic("t")
    outcome = {}
    entered = threading.Event()
    leader = broker._by_name["t"].partitions[0]
    original = leader.wait_for_data

    def spy(offset: int, timeout_s: float) -> None:
        entered.set()
        original(offset, timeout_s)

    leader.wait_for_data = spy  # type: ignore[method-assign]

    def reader() -> None:
        try:
            outcome["r"] = broker.fetch("t", 0, 0, 10, max_wait_ms=30_000)
        except TopicNotFoundError as exc:
            outcome["e"] = exc

    thread = threading.Thread(target=reader)
    thread.start()
    assert entered.wait(5)
    broker.delete_topic("t")
    thread.join(5)
    assert not thread.is_alive() and outcome
