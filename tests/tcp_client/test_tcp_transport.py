"""TcpTransport against a scripted fake server: failover, timeouts, reconnects, fallback."""

from __future__ import annotations

import select
import ssl
import threading
import time

import pytest

from flymq import errors
from flymq import protocol as m
from flymq.client.config import ClientConfig
from flymq.client.tcp import TcpTransport, build_ssl_context, parse_server
from flymq.protocol import Op, encode_frame, error_frame

from .fake_server import CLOSE, HANG, FakeServer, dead_address, e_text, rm_reply


def producer(offsets: dict | None = None):
    """A handler that appends PRODUCEs to partition 0 and counts offsets per connection."""
    state = {"next": 0}

    def handle(op: int, payload: bytes, n: int) -> object:
        if op == Op.PRODUCE:
            req = m.ProduceRequest.decode(payload)
            state["next"] += 1
            return rm_reply(req.topic, 0, state["next"] - 1)
        return e_text(f"unknown opcode: {op}")
    return handle


# --- connecting ---------------------------------------------------------------------------------

def test_failover_skips_dead_first_address(servers, fast_config) -> None:
    srv = FakeServer(producer())
    servers.append(srv)
    t = TcpTransport([dead_address(), srv.address], fast_config)
    try:
        assert t.address == parse_server(srv.address)
        assert t.produce("t", b"v") == 0
    finally:
        t.close()


def test_all_dead_raises_no_available_server(fast_config) -> None:
    addrs = [dead_address(), dead_address()]
    with pytest.raises(errors.NoAvailableServerError) as info:
        TcpTransport(addrs, fast_config)
    assert isinstance(info.value, errors.ConnectionError)
    assert info.value.servers == addrs


def test_connect_timeout_raises_no_available_server(servers) -> None:
    """The server accepts but never answers HELLO: the attempt times out."""
    srv = FakeServer(lambda *a: HANG)
    srv._hello = lambda *a: HANG
    servers.append(srv)
    cfg = ClientConfig(connect_timeout_ms=100, max_retries=1, retry_delay_ms=0)
    start = time.monotonic()
    with pytest.raises(errors.NoAvailableServerError):
        TcpTransport([srv.address], cfg)
    assert time.monotonic() - start < 2


def test_parse_server() -> None:
    assert parse_server("a:1") == ("a", 1)
    assert parse_server(" host ") == ("host", 9092)
    assert parse_server("[::1]:9093") == ("::1", 9093)
    assert parse_server("::1") == ("::1", 9092)
    with pytest.raises(ValueError):
        parse_server("a:b")


# --- losing the connection ----------------------------------------------------------------------

def test_server_closing_mid_request_then_reconnect(make) -> None:
    calls = {"n": 0}

    def handle(op: int, payload: bytes, n: int) -> object:
        calls["n"] += 1
        return CLOSE if calls["n"] == 2 else rm_reply("t", 0, calls["n"])

    srv, t = make(handle)
    assert t.produce("t", b"a") == 1
    with pytest.raises(errors.ConnectionClosedError):
        t.produce("t", b"b")
    assert not t.connected
    assert t.produce("t", b"c") == 3          # reconnected lazily, nothing re-sent
    assert srv.connections == 2
    assert srv.ops_of(1) == [Op.HELLO, Op.PRODUCE, Op.PRODUCE]
    assert srv.ops_of(2) == [Op.HELLO, Op.PRODUCE]


def test_request_timeout_drops_connection(make) -> None:
    calls = {"n": 0}

    def handle(op: int, payload: bytes, n: int) -> object:
        calls["n"] += 1
        return HANG if calls["n"] == 1 else rm_reply("t", 0, 7)

    cfg = ClientConfig(connect_timeout_ms=500, request_timeout_ms=100, retry_delay_ms=0)
    srv, t = make(handle, config=cfg)
    with pytest.raises(errors.TimeoutError) as info:
        t.produce("t", b"a")
    assert isinstance(info.value, TimeoutError)          # also the builtin
    assert not t.connected
    assert t.produce("t", b"b") == 7
    assert srv.connections == 2


def test_reauthenticates_after_reconnect(make) -> None:
    calls = {"n": 0}

    def handle(op: int, payload: bytes, n: int) -> object:
        if op == Op.AUTH:
            req = m.AuthRequest.decode(payload)
            ok = req.password == "pw"
            return encode_frame(Op.AUTH_RESPONSE, m.AuthResponse(
                ok, req.username if ok else "", ["admin"] if ok else [],
                "" if ok else "invalid username or password").encode())
        calls["n"] += 1
        return CLOSE if calls["n"] == 1 else rm_reply("t", 0, 0)

    srv, t = make(handle)
    res = t.authenticate("bob", "pw")
    assert res.success and res.username == "bob" and res.roles == ["admin"]
    with pytest.raises(errors.ConnectionClosedError):
        t.produce("t", b"x")
    t.produce("t", b"y")
    assert srv.ops_of(2) == [Op.HELLO, Op.AUTH, Op.PRODUCE]
    with pytest.raises(errors.AuthenticationError, match="invalid username or password"):
        t.authenticate("bob", "wrong")


def test_bad_reply_magic_is_protocol_error_and_drops(make) -> None:
    srv, t = make(lambda *a: b"HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(errors.ProtocolError):
        t.list_topics()
    assert not t.connected


def test_threads_share_one_transport(make) -> None:
    srv, t = make(producer())
    results: list[int] = []

    def work() -> None:
        for _ in range(50):
            results.append(int(t.produce("t", b"v")))
    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == list(range(200))


def test_oversize_produce_refused_before_sending(make) -> None:
    srv, t = make(producer())
    with pytest.raises(errors.MessageTooLargeError):
        t.produce("t", bytes(m.MAX_PAYLOAD))
    assert srv.ops_of(1) == [Op.HELLO]
    assert t.produce("t", b"ok") == 0


# --- extensions vs upstream fallback ------------------------------------------------------------

def test_upstream_fallback_pipelines_single_produces(make) -> None:
    srv, t = make(producer(), flymq=False)
    assert not t.is_flymq_server
    assert t.supports("transactions") and not t.supports("cluster")
    out = t.produce_batch("t", [(None, b"a", -1), (b"k", b"bb", 0), (None, b"c", -1)])
    assert [int(r) for r in out] == [0, 1, 2]
    assert srv.ops_of(1) == [Op.HELLO, Op.PRODUCE, Op.PRODUCE, Op.PRODUCE]
    with pytest.raises(errors.UnsupportedOperationError):
        t.produce("t", b"v", headers={"h": "1"})
    with pytest.raises(errors.UnsupportedOperationError):
        t.re_inject_dlq("t", 0)


def test_upstream_pipelined_error_raised_after_all_replies(make) -> None:
    calls = {"n": 0}

    def handle(op: int, payload: bytes, n: int) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            return e_text("partition 5 out of range")
        return rm_reply("t", 0, calls["n"])

    srv, t = make(handle, flymq=False)
    with pytest.raises(errors.PartitionNotFoundError):
        t.produce_batch("t", [(None, b"a", 0), (None, b"b", 5), (None, b"c", 0)])
    assert t.produce("t", b"d") == 4                       # still in step


def test_flymq_server_gets_one_produce_batch(make) -> None:
    def handle(op: int, payload: bytes, n: int) -> object:
        assert op == Op.PRODUCE_BATCH
        req = m.ProduceBatchRequest.decode(payload)
        return encode_frame(op, m.ProduceBatchResponse(5, [
            m.BatchResult(max(r.partition, 0), 10 + i) for i, r in enumerate(req.records)]).encode())

    srv, t = make(handle)
    out = t.produce_batch("t", [(b"k", b"a", 1), (None, b"bb", -1)])
    assert [(r.partition, r.offset, r.key_size, r.value_size, r.timestamp) for r in out] == \
        [(1, 10, 1, 1, 5), (0, 11, -1, 2, 5)]


def test_fetch_uses_fetch_ex_on_flymq_and_fetch_upstream(make) -> None:
    def handle(op: int, payload: bytes, n: int) -> object:
        if op == Op.FETCH_EX:
            req = m.FetchExRequest.decode(payload)
            assert req.max_wait_ms == 50 and req.max_bytes == 1000
            return encode_frame(op, m.FetchExResponse(4, 4, 0, [3], [1_700_000_000_000], [None],
                                                      [b"v"], [{"h": "x"}]).encode())
        req = m.FetchRequest.decode(payload)
        return encode_frame(op, m.FetchResponse([m.FetchRecord(req.offset, b"k", b"v")],
                                                req.offset + 1).encode())

    _, t = make(handle)
    r = t.fetch("t", 0, 3, 10, max_bytes=1000, max_wait_ms=50)
    assert r.next_offset == 4 and r.messages[0].headers == {"h": "x"}
    assert r.messages[0].key is None and r.messages[0].timestamp is not None
    _, up = make(handle, flymq=False)
    r = up.fetch("t", 0, 3)
    assert r.next_offset == 4 and r.messages[0].key == b"k" and r.messages[0].timestamp is None


# --- error frames -----------------------------------------------------------------------------------

@pytest.mark.parametrize("frame,exc", [
    (error_frame("topic not found: orders"), errors.TopicNotFoundError),       # E-STRUCT
    (e_text("topic not found: orders"), errors.TopicNotFoundError),            # E-TEXT, no loss
    (encode_frame(Op.ERROR, b"unknown opcode: 7", flags=1), errors.UnsupportedOperationError),
    (e_text("something odd"), errors.ServerError),
])
def test_error_frames_mapped(make, frame: bytes, exc: type) -> None:
    _, t = make(lambda *a: frame)
    with pytest.raises(exc) as info:
        t.fetch("orders", 0, 0)
    if exc is errors.TopicNotFoundError:
        assert info.value.topic == "orders"


def test_eof_becomes_offset_out_of_range_with_context(make) -> None:
    _, t = make(lambda *a: e_text("EOF"))
    with pytest.raises(errors.OffsetOutOfRangeError) as info:
        t.consume("orders", 1, 99)
    assert (info.value.topic, info.value.partition, info.value.offset) == ("orders", 1, 99)


# --- TLS context -------------------------------------------------------------------------------------

def test_tls_context_construction(tmp_path) -> None:
    assert build_ssl_context(ClientConfig()) is None
    ctx = build_ssl_context(ClientConfig(tls_enabled=True))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    lax = build_ssl_context(ClientConfig(tls_enabled=True, tls_insecure_skip_verify=True))
    assert lax.verify_mode == ssl.CERT_NONE and not lax.check_hostname
    with pytest.raises(errors.ConnectionError, match="TLS setup failed"):
        build_ssl_context(ClientConfig(tls_enabled=True, tls_ca_file=str(tmp_path / "none.pem")))


def test_closed_transport_refuses_calls(make) -> None:
    srv, t = make(producer())
    t.close()
    t.close()                                   # idempotent
    with pytest.raises(errors.ConnectionClosedError):
        t.produce("t", b"v")
    assert srv.connections == 1


def test_idle_socket_closed_by_server_is_replaced(make, monkeypatch) -> None:
    """A server-side idle close is noticed before reuse, so no request is lost to it."""
    import flymq.client.tcp as tcp
    monkeypatch.setattr(tcp, "IDLE_PROBE_S", 0.0)

    def handle(op: int, payload: bytes, n: int) -> object:
        return (rm_reply("t", 0, 0), CLOSE) if n == 1 else rm_reply("t", 0, 1)

    srv, t = make(handle)
    assert t.produce("t", b"a") == 0            # the server hangs up after this reply
    select.select([t._sock], [], [], 2)         # wait for the server's FIN to arrive
    assert t.produce("t", b"b") == 1            # transparently on a new connection
    assert srv.connections == 2


def test_request_timeout_is_a_socket_option_not_a_poll(make) -> None:
    """A plain socket stays blocking with SO_RCVTIMEO/SO_SNDTIMEO: CPython would otherwise
    poll() before every send and recv (two syscalls more per request)."""
    import socket
    import struct

    srv, t = make(lambda op, payload, n: rm_reply("t", 0, n))
    t.produce("t", b"a")
    sock = t._sock
    assert sock.gettimeout() is None
    sec, usec = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
    assert sec * 1000 + usec // 1000 == 500
    sec, usec = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16))
    assert sec * 1000 + usec // 1000 == 500


def test_long_poll_fetch_extends_then_restores_the_timeout(make) -> None:
    import socket
    import struct

    def handle(op: int, payload: bytes, n: int) -> object:
        if op == Op.FETCH_EX:
            time.sleep(0.7)                  # longer than request_timeout_ms (500)
            return encode_frame(Op.FETCH_EX, m.FetchExResponse(5, 5, 0, [], [], [], [], []
                                                               ).encode())
        return rm_reply("t", 0, n)

    srv, t = make(handle)
    if not t._has(Op.FETCH_EX):
        pytest.skip("fake server does not offer FETCH_EX")
    assert t.fetch("t", 0, 5, max_wait_ms=1000).next_offset == 5
    sec, usec = struct.unpack("ll", t._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
    assert sec * 1000 + usec // 1000 == 500


@pytest.mark.parametrize("args", [("t", b"", b"v" * 100, -1), ("tópico", b"key", b"", 5),
                                  ("x" * 300, b"k" * 70_000, b"v" * 200_000, 2)])
def test_produce_frame_in_one_join_matches_the_generic_encoding(args) -> None:
    frame = m.ProduceRequest.encode_frame_fields(*args)
    assert frame == encode_frame(Op.PRODUCE, m.ProduceRequest.encode_fields(*args))
    assert m.ProduceRequest.decode_fields(frame, 8) == args
    assert m.ProduceRequest.decode_fields(frame[8:]) == args


def test_produce_frame_in_one_join_checks_sizes() -> None:
    with pytest.raises(errors.InvalidRequestError):
        m.ProduceRequest.encode_frame_fields("t" * 70_000, b"", b"v", -1)
    with pytest.raises(errors.MessageTooLargeError):
        m.ProduceRequest.encode_frame_fields("t", b"", bytes(m.MAX_PAYLOAD), -1)
