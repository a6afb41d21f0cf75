"""One client connection of the TCP server: framing, ordering, backpressure, idle timeout.

Requests of a connection are processed strictly one after another and answered in order
(wire-protocol.md §2). Most requests are answered inline, and all replies produced from one
``data_received`` are written with a single ``transport.write``. A request that must wait
(a long-poll fetch, disk work in the thread pool) yields a future; the requests behind it stay
in ``_backlog`` until it completes, so a later FETCH always sees an earlier PRODUCE.

Under ``fsync=always`` a produce is appended inline and its reply held (a ``DurableReply``);
the produce requests right behind it are appended too, and then one wait in the thread pool
covers them all (group commit) before their replies go out, in order.

Memory per connection is bounded: reading stops while the transport holds more unsent reply
bytes than its high-water mark, or while too many requests (or request bytes) wait in the
backlog, and restarts when both have drained.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from typing import TYPE_CHECKING, Callable, Union

from flymq.broker.server_dispatch import PRODUCE, PRODUCE_OPS, DurableReply
from flymq.errors import (FrameTooLargeError, InvalidMagicError, InvalidVersionError,
                          ProtocolError, wire_text)
from flymq.protocol import (CODEC_MASK, HEADER, HEADER_SIZE, MAGIC, VERSION, Frame, FrameDecoder,
                            error_frame)

_unpack_header = HEADER.unpack_from

if TYPE_CHECKING:
    from flymq.broker.server import Server

log = logging.getLogger("flymq.server")

Reply = Union[bytes, "asyncio.Future[bytes]"]
Dispatch = Callable[["Connection", Frame], Reply]


class Connection(asyncio.Protocol):
    """The protocol instance of one accepted socket."""

    def __init__(self, server: "Server", dispatch: Dispatch):
        self.server = server
        self.peer = "?"
        self.subscribed = False          # set by SUBSCRIBE with a group; triggers member_left
        self.user: str | None = None     # bound by AUTH (auth disabled: any name)
        self.transport: asyncio.Transport | None = None
        self.reading_paused = False
        self._dispatch = dispatch
        # PRODUCE of a whole frame, payload after the header (the hot path of data_received)
        self._produce = getattr(getattr(dispatch, "__self__", None), "produce_payload", None)
        self._time = server.loop.time
        self._decoder = FrameDecoder()
        self._backlog: deque[Frame] = deque()
        self._backlog_bytes = 0
        self._waiting: asyncio.Future[bytes] | None = None
        self._write_paused = False
        self._closing = False
        self._final = b""                # written just before a deliberate close
        self._lost = False
        self._last_rx = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        cfg = server.config
        self._max_bytes = cfg.max_inflight_bytes_per_connection
        self._max_queued = cfg.max_queued_requests_per_connection

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # asyncio's or uvloop's transport (not asyncio.Transport)
        peer = transport.get_extra_info("peername")
        if peer:
            host = peer[0] if ":" not in peer[0] else f"[{peer[0]}]"
            self.peer = f"{host}:{peer[1]}"
        if not self.server._register(self):
            log.warning("connection limit reached; closing %s", self.peer)
            self._lost = True
            transport.abort()
            return
        self._tune_socket(transport.get_extra_info("socket"))
        transport.set_write_buffer_limits(high=self._max_bytes, low=self._max_bytes // 2)
        loop = self.server.loop
        self._last_rx = loop.time()
        timeout = self.server.config.idle_timeout_s
        if timeout:
            self._idle_timer = loop.call_later(timeout, self._check_idle)

    def _tune_socket(self, sock: socket.socket | None) -> None:
        if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        keepalive = self.server.config.keepalive_s
        if keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL"):
                if hasattr(socket, name):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), keepalive)

    def data_received(self, data: bytes) -> None:
        self._last_rx = self._time()
        decoder = self._decoder
        if len(data) >= HEADER_SIZE and not decoder._buf and not self._backlog \
                and self._waiting is None and not self._write_paused and decoder.error is None:
            # the common request/response case: exactly one whole, valid frame, no queueing
            magic, version, op, flags, length = _unpack_header(data)
            if len(data) == HEADER_SIZE + length and magic == MAGIC and version == VERSION \
                    and length <= decoder.max_payload:
                if op == PRODUCE and not flags & CODEC_MASK and self._produce is not None:
                    reply = self._produce(self, data, HEADER_SIZE)
                else:
                    reply = self._dispatch(self, Frame(op, flags, data[HEADER_SIZE:]))
                if type(reply) is bytes:
                    self.transport.write(reply)
                else:
                    self._answer_later(reply)
                return
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as exc:
            self._framing_error(exc)
            return
        backlog = self._backlog
        error = self._decoder.error  # set when valid frames came before bad bytes
        if len(frames) == 1 and not backlog and self._waiting is None \
                and not self._write_paused and error is None:
            self._answer_one(frames[0])  # the common request/response case, no queueing
            return
        backlog.extend(frames)
        self._backlog_bytes += sum(len(f.payload) for f in frames)
        if error is not None:
            self._framing_error(error)  # answers the backlog, then closes
            return
        self._pump()

    def eof_received(self) -> bool:
        """Half-close by the client: answer what was received, then close."""
        self._close_when_done(b"")
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._waiting is not None:
            self._waiting.cancel()
        self._backlog.clear()
        self.server._unregister(self)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._pump()

    # --- processing -------------------------------------------------------------------------

    def _answer_one(self, frame: Frame) -> None:
        reply = self._dispatch(self, frame)
        if type(reply) is bytes:
            self.transport.write(reply)
            return
        self._answer_later(reply)

    def _answer_later(self, reply: "DurableReply | asyncio.Future[bytes]") -> None:
        if type(reply) is DurableReply:
            reply = self._after_durable([reply])
        self._wait_for(reply)
        self._update_reading()

    def _after_durable(self, held: list[DurableReply]) -> "asyncio.Future[bytes]":
        """The held replies, joined, once their appends are durable (one pool job for all;
        storage groups the fsyncs). A failed wait turns that reply into an error frame."""
        def wait_all() -> bytes:
            out = []
            for item in held:
                try:
                    item.wait()
                    out.append(item.reply)
                except Exception as exc:  # noqa: BLE001 - the client must hear about it
                    out.append(error_frame(wire_text(exc)))
            return b"".join(out)
        server = self.server
        return server.loop.run_in_executor(server.executor, wait_all)

    def _wait_for(self, future: "asyncio.Future[bytes]") -> None:
        self._waiting = future
        future.add_done_callback(self._on_reply)
        if self._closing:
            self._wake_long_poll()

    def _wake_long_poll(self) -> None:
        wake = getattr(self._waiting, "wake", None)
        if wake is not None:
            wake()  # answers now with what is there

    def _on_reply(self, future: "asyncio.Future[bytes]") -> None:
        self._waiting = None
        if self._lost or future.cancelled():
            return
        exc = future.exception()
        if exc is not None:  # dispatch futures carry encoded errors; this is a server bug
            log.error("reply future of %s failed", self.peer, exc_info=exc)
            self.transport.abort()
            return
        self._pump(future.result())

    def _pump(self, head: bytes = b"") -> None:
        """Answer queued requests in order until one must wait or the client must catch up."""
        if self._lost:
            return
        out = [head] if head else []
        size = len(head)
        backlog = self._backlog
        dispatch = self._dispatch
        held: list[DurableReply] = []  # appended, replies wait for durability (fsync=always)
        while backlog and self._waiting is None and not self._write_paused:
            if held and backlog[0].op not in PRODUCE_OPS:
                break  # only produces join a group commit; the rest wait behind it
            frame = backlog.popleft()
            self._backlog_bytes -= len(frame.payload)
            reply = dispatch(self, frame)
            if type(reply) is DurableReply:
                if out:  # replies before the first held one may go now
                    self.transport.write(b"".join(out))
                    out, size = [], 0
                held.append(reply)
            elif type(reply) is bytes:
                if held:  # an error reply between held ones keeps its place
                    held.append(DurableReply(reply, _nothing))
                    continue
                out.append(reply)
                size += len(reply)
                if size >= self._max_bytes:  # write now; may call pause_writing()
                    self.transport.write(b"".join(out))
                    out, size = [], 0
            else:
                if held:  # a produce that runs in the pool: its reply follows the held ones
                    reply = asyncio.ensure_future(_joined(self._after_durable(held), reply))
                    held = []
                self._wait_for(reply)
        if held:
            self._wait_for(self._after_durable(held))
        if out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self._closing and not backlog and self._waiting is None:
            self._finish_close()
        else:
            self._update_reading()

    def _update_reading(self) -> None:
        pause = (self._closing or self._write_paused or len(self._backlog) >= self._max_queued
                 or self._backlog_bytes >= self._max_bytes)
        if pause != self.reading_paused and not self._lost:
            self.reading_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    # --- closing ----------------------------------------------------------------------------

    def _framing_error(self, exc: ProtocolError) -> None:
        """§3.3: bad magic closes silently; bad version / oversize say why, then close."""
        final = b""
        if isinstance(exc, InvalidVersionError):
            final = error_frame("invalid protocol version")
        elif isinstance(exc, FrameTooLargeError):
            final = error_frame("message too large")
        elif not isinstance(exc, InvalidMagicError):
            log.warning("framing error from %s: %s", self.peer, exc)
        self._close_when_done(final)

    def _close_when_done(self, final: bytes) -> None:
        """Stop reading, answer what was already received (long polls at once), then close."""
        if self._closing or self._lost:
            return
        self._closing = True
        self._final = final
        self._wake_long_poll()
        self._pump()

    def shutdown(self) -> None:
        """Graceful server stop: finish in-flight requests, then close."""
        self._close_when_done(b"")

    def _finish_close(self) -> None:
        if self._final:
            self.transport.write(self._final)
        self.transport.close()  # sends what is still buffered, then closes

    def abort_if_stuck(self) -> None:
        """Drop the connection if replies are still unsent (a client that stopped reading)."""
        if not self._lost and self.transport.get_write_buffer_size():
            self.transport.abort()

    def _check_idle(self) -> None:
        if self._lost or self._closing:
            return
        loop = self.server.loop
        timeout = self.server.config.idle_timeout_s
        idle = loop.time() - self._last_rx
        if idle >= timeout and self._waiting is None and not self._backlog:
            log.debug("closing idle connection %s", self.peer)
            self.abort_if_stuck()
            self.transport.close()
            return
        self._idle_timer = loop.call_later(max(timeout - idle, 0.01) if self._waiting is None
                                           else timeout, self._check_idle)


def _nothing() -> None:
    """The durability wait of a reply that needs none."""


async def _joined(first: "asyncio.Future[bytes]", second: "asyncio.Future[bytes]") -> bytes:
    """The replies of two futures, in order."""
    return await first + await second
