"""Raw-socket helpers for the server tests (no flymq client involved); servers and ``flymq
serve`` processes come from :mod:`flymq.testing`."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from flymq import protocol as p
from flymq.errors import error_from_wire
from flymq.protocol import Frame, Op


def frame(op: int, payload: bytes = b"", flags: int = p.FLAG_BINARY, *, magic: int = p.MAGIC,
          version: int = p.VERSION, length: int | None = None) -> bytes:
    """Any frame, including invalid ones (encode_frame refuses those)."""
    n = len(payload) if length is None else length
    return p.HEADER.pack(magic, version, op, flags, n) + payload


class RawClient:
    """A blocking socket speaking frames; every read has a deadline."""

    def __init__(self, address: tuple[str, int], timeout: float = 5.0):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_frame(self) -> Frame:
        magic, version, op, flags, length = p.HEADER.unpack(self._exact(p.HEADER_SIZE))
        assert (magic, version) == (p.MAGIC, p.VERSION)
        return Frame(op, flags, self._exact(length))

    def call(self, op: int, msg: Any = None) -> Any:
        """Send one request; the decoded reply, or the error it carries raised."""
        self.send(frame(op, b"" if msg is None else msg.encode()))
        return decode_reply(op, self.recv_frame())

    def read_until_closed(self) -> bytes:
        """Everything the server still sends before it closes (b"" = closed silently)."""
        data = bytearray()
        try:
            while chunk := self.sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        return bytes(data)


def decode_reply(op: int, reply: Frame) -> Any:
    if reply.op == Op.ERROR:
        assert reply.flags == p.FLAG_BINARY
        raise error_from_wire(p.ErrorResponse.decode(reply.payload).message)
    assert reply.op == p.reply_op(op), (hex(reply.op), hex(op))
    assert reply.flags == p.FLAG_BINARY
    return p.RESPONSES[op].decode(reply.payload)


def error_text(reply: Frame) -> str:
    assert reply.op == Op.ERROR and reply.flags == p.FLAG_BINARY, reply
    payload = reply.payload
    assert payload[:4] == b"\x00\x00\x00\x01"            # E-STRUCT, code 1
    assert int.from_bytes(payload[4:6], "big") == len(payload) - 6
    return payload[6:].decode()


def in_server_loop(server: Any, fn: Any) -> Any:
    """Run ``fn()`` in the server's event loop thread and return its result."""
    import asyncio

    async def run() -> Any:
        return fn()
    return asyncio.run_coroutine_threadsafe(run(), server.loop).result(5)


def wait_until(condition: Any, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition()`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def only_connection(server: Any) -> Any:
    """The server side of the single open connection (waits for the accept)."""
    wait_until(lambda: len(server.connections) == 1, what="the connection to be accepted")
    return next(iter(server.connections))


def stop_during_long_poll(server: Any, client: "RawClient", request: bytes) -> Frame:
    """Send ``request`` (a long poll), wait until the server holds it, then stop the server
    gracefully from another thread; returns the reply, which must come at once (the stop
    wakes the poll instead of waiting out its timeout)."""
    client.send(request)
    conn = only_connection(server)
    wait_until(lambda: in_server_loop(server, lambda: conn._waiting is not None),
               what="the long poll to wait")
    started = time.monotonic()
    stopper = threading.Thread(target=server.stop_in_thread)
    stopper.start()
    reply = client.recv_frame()
    stopper.join(10)
    assert time.monotonic() - started < 5
    return reply
