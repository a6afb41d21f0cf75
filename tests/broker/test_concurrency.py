"""Many threads producing and consuming at once lose and duplicate nothing."""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest

from flymq.broker import Broker
from flymq.keyhash import fnv1a_32

PRODUCERS, PER_PRODUCER, PARTITIONS = 9, 300, 4


def read_all(broker: Broker, topic: str, partition: int) -> list:
    messages, offset = [], 0
    while True:
        r = broker.fetch(topic, partition, offset, 1000)
        if not r.messages:
            return messages
        messages += r.messages
        offset = r.next_offset


def test_concurrent_producers_and_consumers(broker: Broker) -> None:
    """Producers 0,3,6 use a key, 1,4,7 no key, 2,5,8 batches of two (one explicit)."""
    broker.create_topic("t", PARTITIONS)
    errors: list[BaseException] = []
    acked: dict[int, list[int]] = defaultdict(list)
    acked_lock = threading.Lock()
    consumed: dict[int, list[int]] = defaultdict(list)
    producers_done = threading.Event()
    start = threading.Barrier(PRODUCERS + PARTITIONS)

    def produce(n: int) -> None:
        try:
            start.wait()
            for i in range(PER_PRODUCER):
                value = b"%d-%d" % (n, i)
                if n % 3 == 0:
                    mds = [broker.produce("t", value, key=b"key-%d" % n)]
                    assert mds[0].partition == fnv1a_32(b"key-%d" % n) % PARTITIONS
                elif n % 3 == 1:
                    mds = [broker.produce("t", value)]
                else:
                    mds = broker.produce_batch("t", [(None, value, -1), (None, value, 1)])
                with acked_lock:
                    for md in mds:
                        acked[md.partition].append(md.offset)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def consume(p: int) -> None:
        try:
            start.wait()
            offset = 0
            while not (producers_done.is_set() and offset >= broker.offsets("t", p)[1]):
                r = broker.fetch("t", p, offset, 100, max_wait_ms=20)
                consumed[p] += [m.offset for m in r.messages]
                offset = r.next_offset
        except BaseException as exc:
            errors.append(exc)

    producers = [threading.Thread(target=produce, args=(n,)) for n in range(PRODUCERS)]
    consumers = [threading.Thread(target=consume, args=(p,)) for p in range(PARTITIONS)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join(30)
    producers_done.set()
    for t in consumers:
        t.join(30)
    assert not errors, errors

    total = sum(PER_PRODUCER * (2 if n % 3 == 2 else 1) for n in range(PRODUCERS))
    assert sum(len(v) for v in acked.values()) == total
    for p in range(PARTITIONS):
        stored = read_all(broker, "t", p)
        assert sorted(acked[p]) == list(range(len(acked[p])))  # dense, never handed out twice
        assert [m.offset for m in stored] == sorted(acked[p])
        assert consumed[p] == sorted(acked[p])  # the live readers saw each exactly once
        per_producer = defaultdict(list)  # and each producer's records stay in order
        for m in stored:
            n, i = m.data.split(b"-")
            per_producer[n].append(int(i))
        assert all(seq == sorted(seq) for seq in per_producer.values())


def test_concurrent_group_commits_and_topic_creation(broker: Broker) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(100):
                broker.create_topic("shared", 2)
                broker.commit_offset("shared", "g", n, i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert broker.list_topics() == ["shared"]
    assert {o["partition"]: o["offset"] for o in
            broker.describe_consumer_group("shared", "g")["offsets"]} == {n: 99 for n in range(6)}


@pytest.mark.timeout(60)
def test_produce_racing_topic_deletes_never_fails_with_auto_create(tmp_path):
    """Every produce path creates a missing topic, also one deleted while it was writing."""
    with Broker(tmp_path) as broker:
        client, stop, errors = broker.client(), threading.Event(), []

        def produce() -> None:
            while not stop.is_set():
                try:
                    client.produce("churn", b"x")
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

        threads = [threading.Thread(target=produce) for _ in range(4)]
        for t in threads:
            t.start()
        for _ in range(500):
            broker.delete_topic("churn")
        stop.set()
        for t in threads:
            t.join()
        assert errors == []
