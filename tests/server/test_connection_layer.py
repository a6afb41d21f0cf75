"""The connection layer (flymq/server/connection.py, listener.py) carries any wire protocol:
here a line-based echo protocol defined in this file, without any FlyMQ protocol code, gets
in-order pipelined replies, worker-thread calls, held replies, framing errors and sessions.
That is what a new front door (an admin API, a Kafka listener) reuses."""

from __future__ import annotations

import ast
import socket
import threading
from pathlib import Path
from typing import NamedTuple

import pytest

from flymq.server.config import ServerConfig
from flymq.server.connection import Connection, HeldReply, Reply
from flymq.server.listener import Listener

LAYER = Path(__file__).resolve().parents[2] / "flymq" / "server"
LIMIT = 64


class Line(NamedTuple):
    payload: bytes


class LineDecoder:
    """Frames are lines; a line longer than LIMIT is a framing error (the lines before it
    are returned, and the error kept for the connection, as the interface asks)."""

    def __init__(self) -> None:
        self.buf = b""
        self.error: Exception | None = None

    @property
    def buffered(self) -> int:
        return len(self.buf)

    def feed(self, data: bytes) -> list[Line]:
        *lines, self.buf = (self.buf + data).split(b"\n")
        good = [Line(line) for line in lines if len(line) <= LIMIT]
        if len(good) < len(lines) or len(self.buf) > LIMIT:
            good = good[:next((i for i, line in enumerate(lines) if len(line) > LIMIT),
                              len(lines))]
            self.error = ValueError("line too long")
            if not good:
                raise self.error
        return good


class LineEcho:
    """ECHO x -> x; WHO -> the session's client id; SLOW x -> x from a worker thread;
    HOLD x -> x, sent once its wait returns (FAIL x: the wait raises); LATE x -> x from a
    worker thread. HOLD, FAIL and LATE may join a group commit."""

    whole_frame = None

    def __init__(self, listener: Listener):
        self.listener = listener
        self.waits: list[str] = []

    def new_decoder(self) -> LineDecoder:
        return LineDecoder()

    def dispatch(self, conn: Connection, frame: Line) -> Reply:
        verb, _, arg = frame.payload.partition(b" ")
        if verb == b"ECHO":
            return arg + b"\n"
        if verb == b"WHO":
            return conn.session.client_id.encode() + b"\n"
        if verb == b"SLOW":
            return conn.server.in_worker(lambda: arg + b" (worker)\n")
        if verb == b"LATE":
            return conn.server.in_worker(lambda: arg + b" (late)\n")
        if verb in (b"HOLD", b"FAIL"):
            if not arg:
                return b"ERR empty\n"

            def wait() -> None:
                self.waits.append(threading.current_thread().name)
                if verb == b"FAIL":
                    raise RuntimeError("not durable")
            return HeldReply(arg + b" (held)\n", wait)
        return b"ERR unknown " + verb + b"\n"

    def joins_group_commit(self, frame: Line) -> bool:
        return frame.payload.startswith((b"HOLD", b"FAIL", b"LATE"))

    def framing_error_reply(self, conn: Connection, exc: Exception) -> bytes:
        return b"ERR " + str(exc).encode() + b"\n"

    def error_reply(self, exc: Exception) -> bytes:
        return b"ERR " + str(exc).encode() + b"\n"


class ToySession:
    def __init__(self, client_id: str):
        self.client_id = client_id
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


class Sessions:
    """The core the listener opens a session on for each connection (a broker, elsewhere)."""

    def __init__(self) -> None:
        self.opened: list[ToySession] = []

    def open_session(self, client_id: str = "") -> ToySession:
        session = ToySession(client_id)
        self.opened.append(session)
        return session


@pytest.fixture
def toy(event_loop_name):
    protocols: list[LineEcho] = []

    def factory(listener: Listener) -> LineEcho:
        protocols.append(LineEcho(listener))
        return protocols[-1]

    sessions = Sessions()
    listener = Listener(sessions, ServerConfig(port=0, event_loop=event_loop_name), factory)
    listener.start_in_thread()
    yield listener, sessions, protocols
    listener.stop_in_thread()


def _talk(address: tuple[str, int], data: bytes, lines: int) -> tuple[list[bytes], socket.socket]:
    sock = socket.create_connection(address, timeout=5)
    sock.sendall(data)
    got = b""
    while got.count(b"\n") < lines:
        chunk = sock.recv(65536)
        assert chunk, got
        got += chunk
    return got.splitlines(), sock


def test_pipelined_lines_are_answered_in_order(toy):
    listener, sessions, _ = toy
    request = b"ECHO a\nSLOW b\nECHO c\nWHO\nEC" + b"HO d\n"
    replies, sock = _talk(listener.address, request, 5)
    with sock:
        host, port = sock.getsockname()[:2]
        assert replies == [b"a", b"b (worker)", b"c", f"{host}:{port}".encode(), b"d"]
    assert sessions.opened[0].closed.wait(5)


def test_held_replies_share_one_wait_job_and_keep_their_place(toy):
    listener, _, protocols = toy
    request = b"ECHO 1\nHOLD 2\nHOLD\nFAIL 4\nHOLD 5\nLATE 6\nHOLD 7\nSLOW 8\nECHO 9\n"
    replies, sock = _talk(listener.address, request, 9)
    sock.close()
    assert replies == [b"1", b"2 (held)", b"ERR empty", b"ERR not durable", b"5 (held)",
                       b"6 (late)", b"7 (held)", b"8 (worker)", b"9"]
    waits = protocols[0].waits
    assert len(waits) == 4 and len(set(waits[:3])) == 1   # one worker job for 2, 4 and 5


def test_a_framing_error_answers_what_came_before_then_closes(toy):
    listener, sessions, _ = toy
    with socket.create_connection(listener.address, timeout=5) as sock:
        sock.sendall(b"ECHO ok\n" + b"x" * (LIMIT + 1))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data == b"ok\nERR line too long\n"
    assert sessions.opened[0].closed.wait(5)


def test_the_connection_layer_imports_no_protocol_and_no_broker():
    for name in ("connection.py", "listener.py", "config.py", "limits.py", "accept_guard.py",
                 "busy_poll.py"):
        for node in ast.walk(ast.parse((LAYER / name).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flymq"):
                assert node.module in ("flymq.server.config", "flymq.server.connection",
                                       "flymq.server.listener", "flymq.server.limits",
                                       "flymq.server.accept_guard", "flymq.server.busy_poll",
                                       "flymq.errors"), (name, node.module)
            if isinstance(node, ast.Import):
                assert not [a for a in node.names if a.name.startswith("flymq")], name
