"""A tiny scripted FlyMQ server for TcpTransport tests (one thread per connection)."""

from __future__ import annotations

import socket
import threading
from typing import Callable

from flymq import protocol as m
from flymq.protocol import FrameDecoder, Op, encode_frame

#: A handler gets (op, payload, connection number) and returns the bytes to send back,
#: CLOSE to close the connection, (bytes, CLOSE) to answer and then close, or HANG to never
#: answer.
CLOSE = object()
HANG = object()
Handler = Callable[[int, bytes, int], object]


def rm_reply(topic: str, partition: int, offset: int) -> bytes:
    return encode_frame(Op.PRODUCE, m.RecordMetadataResponse(topic, partition, offset,
                                                             1_700_000_000_000, -1, 1).encode())


def e_text(op_text: str) -> bytes:
    """An upstream generic-path error: raw text, flags 0x00."""
    return encode_frame(Op.ERROR, op_text.encode(), flags=0)


def dead_address() -> str:
    """An address where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


class FakeServer:
    def __init__(self, handler: Handler, *, flymq: bool = True,
                 ops: tuple[int, ...] = (Op.PRODUCE_BATCH, Op.FETCH_EX, Op.SERVER_INFO,
                                         Op.PRODUCE_EX, Op.LIST_OFFSETS),
                 features: tuple[str, ...] = ("transactions",)):
        self.handler, self.flymq, self.ops, self.features = handler, flymq, ops, features
        self.log: list[tuple[int, int]] = []       # (connection number, op)
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.address = "127.0.0.1:%d" % self._sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn, self.connections),
                             daemon=True).start()

    def _hello(self, op: int, payload: bytes, n: int) -> object:
        if not self.flymq:
            return e_text(f"unknown opcode: {op}")
        return encode_frame(Op.HELLO, m.HelloResponse("flymq", "test", list(self.ops),
                                                      list(self.features)).encode())

    def _serve(self, conn: socket.socket, n: int) -> None:
        dec = FrameDecoder()
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for frame in dec.feed(data):
                    self.log.append((n, frame.op))
                    handler = self._hello if frame.op == Op.HELLO else self.handler
                    out = handler(frame.op, frame.payload, n)
                    if out is CLOSE:
                        return
                    if out is HANG:
                        self._stop.wait()
                        return
                    if isinstance(out, tuple):          # (reply, CLOSE): answer, then hang up
                        conn.sendall(out[0])
                        return
                    conn.sendall(out)

    def ops_of(self, n: int) -> list[int]:
        return [op for c, op in self.log if c == n]

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for c in self._open:
            try:
                c.close()
            except OSError:
                pass


def upstream_topics(topics: dict[str, list[tuple[int, int]]]) -> Handler:
    """An upstream server holding ``topics`` (``{name: [(start, end) of each partition]}``):
    the standard opcodes a client lists topics, partitions and offsets with."""
    def handle(op: int, payload: bytes, n: int) -> object:
        if op == Op.LIST_TOPICS:
            return encode_frame(op, m.ListTopicsResponse(sorted(topics)).encode())
        if op == Op.CLUSTER_METADATA:
            asked = m.ClusterMetadataRequest.decode(payload).topic
            return encode_frame(op, m.ClusterMetadataResponse("upstream", [
                m.TopicPartitions(t, [m.PartitionInfo(p) for p in range(len(topics[t]))])
                for t in ([asked] if asked else sorted(topics)) if t in topics]).encode())
        if op == Op.SUBSCRIBE:
            req = m.SubscribeRequest.decode(payload)
            start, end = topics[req.topic][req.partition]
            return encode_frame(op, m.OffsetResponse(
                start if req.mode == "earliest" else end).encode())
        return e_text(f"unknown opcode: {op}")
    return handle
