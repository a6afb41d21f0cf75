"""Raw-socket and subprocess helpers for the server tests (no flymq client involved)."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flymq import protocol as p
from flymq.errors import error_from_wire
from flymq.protocol import Frame, Op

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"^flymq listening on (?P<host>[^ ]+):(?P<port>\d+) "
                   r"\(data: (?P<data>.*), fsync: (?P<fsync>\w+)\)$")


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


# --- `flymq serve` as a subprocess ------------------------------------------------------------

def serve_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYMQ_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class ServeProcess:
    """``python -m flymq serve ...``; :attr:`match` holds the parsed readiness line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 20.0):
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "flymq", "serve", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env or serve_env(), cwd=ROOT, text=True)
        self.line = self._readline(timeout)
        self.ready_after = time.monotonic() - self.started
        match = READY.match(self.line)
        assert match, f"not a readiness line: {self.line!r}; stderr: {self._stderr()}"
        self.match = match
        self.address = (match["host"], int(match["port"]))

    def _readline(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.05)
            if ready:
                line = self.proc.stdout.readline()
                if line:
                    return line.rstrip("\n")
                break
        self.proc.kill()
        raise AssertionError(f"no readiness line; stderr: {self._stderr()}")

    def _stderr(self) -> str:
        try:
            return self.proc.communicate(timeout=5)[1]
        except subprocess.TimeoutExpired:
            return "<no stderr>"

    def terminate(self, timeout: float = 10.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


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
