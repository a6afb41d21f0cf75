"""fsync=always: appends reach the OS under the log lock, durability is awaited outside any
lock, and one fsync covers every append waiting for it (storage, broker and TCP server)."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from flymq import protocol as p
from flymq.broker.broker import Broker
from flymq.broker.config import BrokerConfig
from flymq.broker.storage import FsyncPolicy, LogConfig, PartitionLog, Record
from flymq.protocol import Op, encode_frame
from flymq.testing import start_server

THREADS, PER_THREAD = 8, 40


@pytest.fixture
def fsyncs(monkeypatch) -> list[int]:
    """Data fsyncs made by appenders (not by the background flusher), each a little slow so
    that appends pile up behind one, as they do on a real disk."""
    calls: list[int] = []
    real = os.fsync

    def slow_fsync(fd: int) -> None:
        if threading.current_thread().name != "flymq-flusher":
            calls.append(fd)
        threading.Event().wait(0.002)
        real(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    return calls


def test_append_without_wait_returns_before_the_fsync(tmp_path, fsyncs):
    log = PartitionLog(tmp_path / "log", LogConfig(fsync=FsyncPolicy.ALWAYS))
    fsyncs.clear()                       # opening fsyncs the new directory
    try:
        base = log.append([Record(b"a"), Record(b"b")], wait=False)
        assert base == 0 and log.end_offset == 2
        assert not fsyncs and not log.is_durable(2)
        log.wait_durable(2)
        assert len(fsyncs) == 1 and log.is_durable(2)
        log.wait_durable(2)              # already covered: no second fsync
        assert len(fsyncs) == 1
    finally:
        log.close()


def test_concurrent_appenders_share_fsyncs(tmp_path, fsyncs):
    with Broker(tmp_path / "data", BrokerConfig(fsync="always")) as broker:
        broker.create_topic("t", 1)
        fsyncs.clear()

        def produce() -> None:
            for i in range(PER_THREAD):
                broker.produce("t", b"%d" % i)

        threads = [threading.Thread(target=produce) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert broker.offsets("t", 0) == (0, THREADS * PER_THREAD)
        assert len(fsyncs) < THREADS * PER_THREAD / 3, len(fsyncs)


def _read_replies(sock: socket.socket, count: int) -> list[p.Frame]:
    decoder, frames = p.FrameDecoder(), []
    while len(frames) < count:
        data = sock.recv(65536)
        assert data, "server closed the connection"
        frames += decoder.feed(data)
    return frames


def test_pipelined_produces_of_one_connection_wait_for_one_fsync(tmp_path, fsyncs):
    with Broker(tmp_path / "data", BrokerConfig(fsync="always")) as broker:
        broker.create_topic("t", 1)
        with start_server(broker) as server:
            fsyncs.clear()
            n = 50
            requests = b"".join(
                encode_frame(Op.PRODUCE, p.ProduceRequest("t", b"", b"%d" % i, 0).encode())
                for i in range(n))
            with socket.create_connection(server.address, timeout=5) as sock:
                sock.sendall(requests)
                replies = _read_replies(sock, n)
        offsets = [p.RecordMetadataResponse.decode(r.payload).offset for r in replies]
        assert offsets == list(range(n))             # answered in order, nothing lost
        assert len(fsyncs) <= 5, len(fsyncs)         # not one fsync per request


def test_connections_producing_at_once_share_fsyncs(tmp_path, fsyncs):
    with Broker(tmp_path / "data", BrokerConfig(fsync="always")) as broker:
        broker.create_topic("t", 1)
        with start_server(broker) as server:
            fsyncs.clear()

            def produce_one_at_a_time() -> None:
                with socket.create_connection(server.address, timeout=5) as sock:
                    for i in range(PER_THREAD):
                        sock.sendall(encode_frame(
                            Op.PRODUCE, p.ProduceRequest("t", b"", b"v", -1).encode()))
                        assert _read_replies(sock, 1)[0].op == Op.PRODUCE

            threads = [threading.Thread(target=produce_one_at_a_time) for _ in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert broker.offsets("t", 0)[1] == THREADS * PER_THREAD
        assert len(fsyncs) < THREADS * PER_THREAD / 2, len(fsyncs)
