"""Connection behaviour: pipelining, ordering, backpressure, idle timeout, many connections."""

from __future__ import annotations

import selectors
import socket
import threading
import time

from flymq import protocol as p
from flymq.broker.broker import Broker
from flymq.broker.config import BrokerConfig
from flymq.protocol import Op
from flymq.testing import start_server
from srvutil import (RawClient, decode_reply, frame, in_server_loop, only_connection,
                     stop_during_long_poll, wait_until)


def _produce(topic: str, value: bytes, partition: int = -1) -> bytes:
    return frame(Op.PRODUCE, p.ProduceRequest(topic, b"", value, partition).encode())


def _fetch_ex(topic: str, offset: int, wait_ms: int) -> bytes:
    return frame(Op.FETCH_EX, p.FetchExRequest(topic, 0, offset, 10, 0, wait_ms).encode())


def test_pipelined_frames_in_one_write_are_answered_in_order(server):
    frames = b"".join(_produce("pipe", b"m%d" % i) for i in range(100))
    with RawClient(server.address) as c:
        c.send(frames)
        offsets = [decode_reply(Op.PRODUCE, c.recv_frame()).offset for _ in range(100)]
        assert offsets == list(range(100))
        c.send(b"".join(frame(Op.CONSUME, p.ConsumeRequest("pipe", 0, i).encode())
                        for i in range(100)))
        values = [decode_reply(Op.CONSUME, c.recv_frame()).value for _ in range(100)]
    assert values == [b"m%d" % i for i in range(100)]


def test_requests_behind_a_long_poll_wait_for_it(server, broker):
    broker.create_topic("lp")
    with RawClient(server.address) as c:
        c.send(_fetch_ex("lp", 0, 10_000) + frame(Op.LIST_TOPICS))
        conn = only_connection(server)
        wait_until(lambda: in_server_loop(server, lambda: conn._waiting is not None),
                   what="the long poll to wait")
        broker.produce("lp", b"late")
        first = decode_reply(Op.FETCH_EX, c.recv_frame())
        assert [r.value for r in first.records] == [b"late"]
        assert decode_reply(Op.LIST_TOPICS, c.recv_frame()).topics == ["lp"]


def test_long_poll_times_out_with_an_empty_reply(server, broker):
    broker.create_topic("lp")
    with RawClient(server.address) as c:
        started = time.monotonic()
        reply = c.call(Op.FETCH_EX, p.FetchExRequest("lp", 0, 0, 10, 0, 50))
        assert reply.records == [] and reply.next_offset == 0
        assert time.monotonic() - started >= 0.045


def test_produce_with_fsync_always_runs_off_loop_and_keeps_order(tmp_path, event_loop_name):
    with Broker(tmp_path / "d", BrokerConfig(fsync="always")) as broker, \
            start_server(broker, event_loop=event_loop_name) as server:
        with RawClient(server.address) as c:
            c.send(b"".join(_produce("dur", b"%d" % i) for i in range(20))
                   + frame(Op.FETCH, p.FetchRequest("dur", 0, 0, 100).encode()))
            offsets = [decode_reply(Op.PRODUCE, c.recv_frame()).offset for _ in range(20)]
            fetched = decode_reply(Op.FETCH, c.recv_frame())
        assert offsets == list(range(20))
        assert [r.value for r in fetched.records] == [b"%d" % i for i in range(20)]


def test_backpressure_bounds_server_memory(make_server, broker):
    """A client that pipelines FETCHes and does not read: the server stops reading and keeps
    at most about one high-water mark of replies, then serves everything once it reads."""
    limit = 64 * 1024
    server = make_server(max_inflight_bytes_per_connection=limit,
                         max_queued_requests_per_connection=32)
    broker.create_topic("bp")
    for i in range(20):
        broker.produce("bp", bytes([i]) * 1000)
    n = 4000                      # ~10 KB per reply: ~40 MB if the server buffered it all
    requests = b"".join(frame(Op.FETCH, p.FetchRequest("bp", 0, i % 10, 10).encode())
                        for i in range(n))
    sock = socket.create_connection(server.address)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.setblocking(False)
    sent = 0
    try:
        while sent < len(requests):
            sent += sock.send(requests[sent:sent + 65536])
    except BlockingIOError:
        pass
    conn = only_connection(server)

    def state():
        return in_server_loop(server, lambda: (conn.reading_paused, conn._write_paused,
                                               conn.transport.get_write_buffer_size(),
                                               len(conn._backlog)))
    wait_until(lambda: state()[0] and state()[1], what="the server to pause")
    paused, _, buffered, backlog = state()
    assert buffered <= 2 * limit + 12_000
    assert backlog <= 32 + 256 * 1024 // 30   # the cap plus the frames of one read (256 KiB)

    # Now read: everything arrives, in order, and the server resumes reading.
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    buf, replies = bytearray(), 0
    deadline = time.monotonic() + 20
    while replies < n:
        assert time.monotonic() < deadline
        for _, events in sel.select(1):
            if events & selectors.EVENT_WRITE:
                if sent < len(requests):
                    try:
                        sent += sock.send(requests[sent:sent + 65536])
                    except BlockingIOError:
                        pass
                else:
                    sel.modify(sock, selectors.EVENT_READ)
            if events & selectors.EVENT_READ:
                buf += sock.recv(1 << 20)
                while len(buf) >= 8:
                    length = int.from_bytes(buf[4:8], "big")
                    if len(buf) < 8 + length:
                        break
                    reply = p.FetchResponse.decode(bytes(buf[8:8 + length]))
                    assert buf[2] == Op.FETCH and reply.records[0].offset == replies % 10
                    del buf[:8 + length]
                    replies += 1
    sock.close()


def test_idle_connection_is_closed_silently(make_server):
    server = make_server(idle_timeout_s=0.2)
    with RawClient(server.address) as c:
        started = time.monotonic()
        assert c.read_until_closed() == b""
        assert time.monotonic() - started >= 0.19


def test_long_poll_is_not_cut_by_idle_timeout(make_server, broker):
    server = make_server(idle_timeout_s=0.2)
    broker.create_topic("idle")
    with RawClient(server.address) as c:
        reply = c.call(Op.FETCH_EX, p.FetchExRequest("idle", 0, 0, 10, 0, 500))
        assert reply.records == []


def test_connection_limit(make_server):
    server = make_server(max_connections=2)
    with RawClient(server.address) as a, RawClient(server.address) as b:
        a.call(Op.LIST_TOPICS)
        b.call(Op.LIST_TOPICS)
        with RawClient(server.address) as c:
            assert c.read_until_closed() == b""
        a.call(Op.LIST_TOPICS)


def test_200_concurrent_connections(server, broker):
    broker.create_topic("many", 4)
    clients = [RawClient(server.address) for _ in range(200)]
    errors: list[BaseException] = []
    offsets: list[tuple[int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(clients))

    def work(c: RawClient, i: int) -> None:
        try:
            start.wait(5)
            for j in range(5):
                rm = c.call(Op.PRODUCE, p.ProduceRequest("many", b"", b"%d-%d" % (i, j), -1))
                with lock:
                    offsets.append((rm.partition, rm.offset))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c, i)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    for c in clients:
        c.close()
    assert not errors
    assert len(set(offsets)) == 1000
    assert sum(broker.offsets("many", part)[1] for part in range(4)) == 1000


def test_stop_answers_long_polls_and_closes(make_server, broker):
    server = make_server()
    broker.create_topic("bye")
    with RawClient(server.address) as c:
        reply = stop_during_long_poll(server, c, _fetch_ex("bye", 0, 30_000))
        assert decode_reply(Op.FETCH_EX, reply).records == []
        assert c.read_until_closed() == b""
