"""Fault injection through flymq.testing on both transports (the ``client`` fixture of
tests/conftest.py runs each test embedded and over TCP)."""

from __future__ import annotations

import time

import pytest

from flymq import FlyMQClient
from flymq.errors import (BrokerClosedError, ConnectionError, MessageTooLargeError,
                          NoAvailableServerError, ServerError, StorageError)
from flymq.testing import Faults
from flymq.testing.proxy import FaultyProxy


def test_the_next_produces_fail_then_succeed(flymq_broker, client):
    client.create_topic("t")
    with Faults(flymq_broker) as faults:
        faults.fail_next("produce", 2, MessageTooLargeError(10, 5))
        for _ in range(2):  # over TCP too: the wire text maps back to the class
            with pytest.raises(MessageTooLargeError):
                client.produce("t", b"lost")
        assert client.produce("t", b"kept").offset == 0  # a failed produce stored nothing
        assert faults.injected["produce"] == 2
    assert [m.value for m in client.fetch("t", 0, 0, 10).messages] == [b"kept"]


class Needy(ServerError):
    def __init__(self, a: int, b: int):
        super().__init__(f"{a} {b}")


def test_failures_by_topic_and_default_error(flymq_broker, client):
    with Faults(flymq_broker) as faults:
        faults.fail_next("produce", topic="a")
        assert client.produce("b", b"x").offset == 0
        with pytest.raises(ServerError, match="injected fault: produce failed"):
            client.produce("a", b"x")
        client.produce("a", b"y")
        with pytest.raises(ValueError):
            faults.fail_next("delete")
        with pytest.raises(TypeError, match="pass an instance"):
            faults.fail_next("produce", error=Needy)


def test_fetches_fail_and_batches_too(flymq_broker, client):
    client.produce("t", b"x")
    with Faults(flymq_broker) as faults:
        faults.fail_next("fetch", 1, StorageError("disk read error"))
        with pytest.raises(ServerError, match="disk read error"):
            client.fetch("t", 0, 0)
        assert client.fetch("t", 0, 0).messages[0].value == b"x"
        faults.fail_next("produce")
        with pytest.raises(ServerError):
            client.append_batch("t", [(None, b"a", 0), (None, b"b", 0)])
    assert client.partition_offsets("t", 0) == (0, 1)


def test_paused_partition_delivers_nothing_until_resumed(flymq_broker, client):
    client.create_topic("t", 2)
    client.produce("t", b"0", partition=0)
    client.produce("t", b"1", partition=1)
    with Faults(flymq_broker) as faults:
        faults.pause("t", 0)
        assert client.fetch("t", 0, 0).messages == []
        assert client.fetch("t", 1, 0).messages[0].value == b"1"
        client.produce("t", b"during", partition=0)  # produces still succeed
        faults.resume("t", 0)
        assert [m.value for m in client.fetch("t", 0, 0).messages] == [b"0", b"during"]


def test_disk_limit_fails_produces_with_the_disk_full_error(flymq_broker, client):
    with Faults(flymq_broker) as faults:
        client.produce("t", b"small")
        faults.limit_disk(1)
        with pytest.raises(StorageError, match="no space left on device"):
            client.produce("t", b"x" * 100)
        faults.limit_disk(None)
        client.produce("t", b"fits again")
    assert client.partition_offsets("t", 0) == (0, 2)


def test_one_injector_per_broker(flymq_broker):
    with Faults(flymq_broker):
        with pytest.raises(RuntimeError):
            Faults(flymq_broker)
    with Faults(flymq_broker):  # closing the first one uninstalled it
        pass
    assert flymq_broker.faults is None


def test_crash_and_restart_keep_what_was_acknowledged(flymq_broker, client):
    client.create_topic("t", 2)
    acked = [client.produce("t", b"m%d" % i, partition=i % 2) for i in range(20)]
    client.commit_offset("t", "g", 0, 5)
    flymq_broker.crash()
    with pytest.raises((BrokerClosedError, ServerError)):
        client.produce("t", b"while down")
    with pytest.raises(BrokerClosedError):
        flymq_broker.crash()
    flymq_broker.restart()
    for md in acked:  # the same client goes on working
        assert client.consume("t", md.offset, md.partition).value == b"m%d" % acked.index(md)
    assert client.get_committed_offset("t", "g", 0) == 5
    assert client.produce("t", b"after", partition=0).offset == 10
    with pytest.raises(ServerError, match="running"):
        flymq_broker.restart()


def test_crash_recovers_by_scanning(flymq_broker):
    flymq_broker.produce("t", b"x")
    flymq_broker.crash()
    checkpoints = list(flymq_broker.data_dir.rglob("recovery-checkpoint"))
    # no clean-shutdown checkpoint was written for the topic: the restart scans its log
    assert not [p for p in checkpoints if "topics" in p.parts]
    flymq_broker.restart()
    assert flymq_broker.fetch("t", 0, 0).messages[0].value == b"x"


def test_a_temporary_broker_keeps_its_files_across_a_crash():
    from flymq.broker import Broker

    broker = Broker()
    broker.produce("t", b"x")
    broker.crash()
    assert broker.data_dir.exists()
    broker.restart()
    assert broker.fetch("t", 0, 0).messages[0].value == b"x"
    broker.close()
    assert not broker.data_dir.exists()


def test_proxy_drops_delays_and_refuses(flymq_server):
    with FaultyProxy(flymq_server) as proxy:
        client = FlyMQClient(proxy.address, max_retries=1, retry_delay_ms=0)
        try:
            client.produce("t", b"a")
            proxy.drop()
            with pytest.raises(ConnectionError):
                client.produce("t", b"b")
            client.produce("t", b"c")  # the next call reconnects
            assert proxy.connections == 2
            proxy.delay(150)
            started = time.monotonic()
            client.fetch("t", 0, 0)
            assert time.monotonic() - started >= 0.3  # both ways
            proxy.heal()
            proxy.refuse()
            with pytest.raises(NoAvailableServerError):
                FlyMQClient(proxy.address, max_retries=1, connect_timeout_ms=500)
            proxy.heal()
            assert [m.value for m in client.fetch("t", 0, 0).messages] == [b"a", b"c"]
        finally:
            client.close()
