"""The connection layer of a front door: one accepted socket, whatever protocol it speaks.

It knows nothing of FlyMQ opcodes. It owns what every request/response protocol over TCP
needs: handing received bytes to the protocol's decoder, answering requests strictly in order
(a later request always sees the effect of an earlier one), pipelining, one
``transport.write`` for all the replies of one read, backpressure, group commit of held
durable replies, long-poll wake-ups, the idle timeout and the graceful close. Each connection
opens one broker session when accepted (client id: the peer "host:port") and closes it when
the connection is lost, which releases what the caller owned (its group memberships).

A front door (FlyMQ v1 today; an admin HTTP API or a Kafka-protocol listener later) plugs in
one :class:`WireProtocol` per listener, an object with:

``new_decoder() -> decoder``
    A decoder for one connection's byte stream. ``decoder.feed(data)`` returns the frames
    completed by ``data`` (any objects with a ``payload`` attribute, whose ``len`` counts
    toward the connection's byte budget) and raises on a malformed stream;
    ``decoder.error`` is None, or the error found after the complete frames that the last
    ``feed`` returned (those are answered first). The connection keeps the decoder in
    ``conn.decoder``.
``dispatch(conn, frame) -> reply``
    Answer one frame, never raising (errors are the protocol's to encode). A reply is
    ``bytes`` (sent in order, batched with its neighbours into one write); a
    :class:`HeldReply` (ready, but sent only after its ``wait()`` returns; the waits of
    consecutive held replies run as one job on a worker thread: a group commit); or an
    ``asyncio.Future`` of bytes, e.g. from ``conn.server.in_worker(fn, *args)`` for a call
    that may wait on the disk, or a long poll. A future may have a ``wake()`` method, called
    when the connection or the server closes: it must then complete at once.
``joins_group_commit(frame) -> bool``
    Whether ``frame`` may be dispatched while held replies wait for their shared durability
    wait (appends may; a read must wait behind them to see them durable).
``framing_error_reply(conn, exc) -> bytes``
    The last bytes to send after the decoder raised ``exc``; ``b""`` closes silently.
``error_reply(exc) -> bytes``
    The reply that replaces a held reply whose ``wait()`` raised ``exc``.
``whole_frame``
    None, or an optional fast path ``whole_frame(conn, data) -> reply | None`` tried first
    when nothing is queued: the reply when ``data`` is exactly one whole frame (no frame list,
    no queue), else None (the decoder then takes ``data``).

The connection gives the protocol ``conn.session``, ``conn.peer``, ``conn.decoder`` and
``conn.server`` (the :class:`~flymq.server.listener.Listener`: ``loop``, ``config``,
``in_worker``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Protocol, Union

if TYPE_CHECKING:
    from flymq.server.listener import Listener

log = logging.getLogger("flymq.server")


class HeldReply(NamedTuple):
    """A reply that is ready but may only be sent after ``wait()`` (a blocking wait, run on a
    worker thread) returns: an append acknowledged once durable (``fsync=always``)."""

    reply: bytes
    wait: Callable[[], None]


Reply = Union[bytes, HeldReply, "asyncio.Future[bytes]"]


class Decoder(Protocol):
    """See the module docstring."""

    error: Exception | None

    def feed(self, data: bytes) -> list[Any]: ...


class WireProtocol(Protocol):
    """What a front door supplies to the connection layer (see the module docstring)."""

    whole_frame: Callable[["Connection", bytes], Reply | None] | None

    def new_decoder(self) -> Decoder: ...

    def dispatch(self, conn: "Connection", frame: Any) -> Reply: ...

    def joins_group_commit(self, frame: Any) -> bool: ...

    def framing_error_reply(self, conn: "Connection", exc: Exception) -> bytes: ...

    def error_reply(self, exc: Exception) -> bytes: ...


class Connection(asyncio.Protocol):
    """The asyncio protocol instance of one accepted socket."""

    def __init__(self, server: "Listener", protocol: WireProtocol):
        self.server = server
        self.peer = "?"
        self.session: Any = None          # the broker session, opened once accepted
        self.transport: asyncio.Transport | None = None
        self.reading_paused = False
        self.decoder = protocol.new_decoder()
        self._protocol = protocol
        self._dispatch = protocol.dispatch
        self._whole = protocol.whole_frame
        # time.monotonic, not loop.time(): asyncio's is a Python method around it (a call
        # less on every read); the idle check reads the same clock
        self._time = time.monotonic
        self._backlog: deque[Any] = deque()
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
        server = self.server
        if not server._register(self):
            log.warning("connection limit reached; closing %s", self.peer)
            self._lost = True
            transport.abort()
            return
        try:
            self.session = server.broker.open_session(client_id=self.peer)
        except Exception:  # e.g. the broker closed under a running server
            log.exception("no session for %s; closing", self.peer)
            transport.abort()
            return
        self._tune_socket(transport.get_extra_info("socket"))
        transport.set_write_buffer_limits(high=self._max_bytes, low=self._max_bytes // 2)
        loop = server.loop
        self._last_rx = self._time()
        timeout = server.config.idle_timeout_s
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
        if not self._backlog and self._waiting is None and not self._write_paused \
                and self._whole is not None:
            # the common request/response case: one whole frame, nothing queued; it skips
            # the decoder's buffer, the frame list and the queue
            reply = self._whole(self, data)
            if reply is not None:
                if type(reply) is bytes:
                    self.transport.write(reply)
                else:
                    self._answer_later(reply)
                return
        try:
            frames = self.decoder.feed(data)
        except Exception as exc:  # a malformed stream, whatever the decoder raises for it
            self._framing_error(exc)
            return
        backlog = self._backlog
        error = self.decoder.error  # set when valid frames came before bad bytes
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
        if self.session is not None:
            try:
                self.session.close()  # leaves the groups it joined
            except Exception:  # bookkeeping must never take the server down
                log.exception("closing the session of %s failed", self.peer)
        self.server._unregister(self)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._pump()

    # --- processing -------------------------------------------------------------------------

    def _answer_one(self, frame: Any) -> None:
        reply = self._dispatch(self, frame)
        if type(reply) is bytes:
            self.transport.write(reply)
            return
        self._answer_later(reply)

    def _answer_later(self, reply: "HeldReply | asyncio.Future[bytes]") -> None:
        if type(reply) is HeldReply:
            reply = self._after_durable([reply])
        self._wait_for(reply)
        self._update_reading()

    def _after_durable(self, held: list[HeldReply]) -> "asyncio.Future[bytes]":
        """The held replies, joined, once their waits return (one worker job for all, so
        that storage covers them with one fsync). A failed wait turns that reply into the
        protocol's error reply."""
        error_reply = self._protocol.error_reply

        def wait_all() -> bytes:
            out = []
            for item in held:
                try:
                    item.wait()
                    out.append(item.reply)
                except Exception as exc:  # noqa: BLE001 - the client must hear about it
                    out.append(error_reply(exc))
            return b"".join(out)
        return self.server.in_worker(wait_all)

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
        held: list[HeldReply] = []  # ready, waiting for durability (fsync=always)
        while backlog and self._waiting is None and not self._write_paused:
            if held and not self._protocol.joins_group_commit(backlog[0]):
                break  # only appends join a group commit; the rest wait behind it
            frame = backlog.popleft()
            self._backlog_bytes -= len(frame.payload)
            reply = dispatch(self, frame)
            if type(reply) is HeldReply:
                if out:  # replies before the first held one may go now
                    self.transport.write(b"".join(out))
                    out, size = [], 0
                held.append(reply)
            elif type(reply) is bytes:
                if held:  # a reply between held ones keeps its place
                    held.append(HeldReply(reply, _nothing))
                    continue
                out.append(reply)
                size += len(reply)
                if size >= self._max_bytes:  # write now; may call pause_writing()
                    self.transport.write(b"".join(out))
                    out, size = [], 0
            else:
                if held:  # a call on a worker thread: its reply follows the held ones
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

    def _framing_error(self, exc: Exception) -> None:
        self._close_when_done(self._protocol.framing_error_reply(self, exc))

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
        idle = self._time() - self._last_rx
        if idle >= timeout and self._waiting is None and not self._backlog:
            log.debug("closing idle connection %s", self.peer)
            self.abort_if_stuck()
            self.transport.close()
            return
        self._idle_timer = loop.call_later(max(timeout - idle, 0.01) if self._waiting is None
                                           else timeout, self._check_idle)


def _nothing() -> None:
    """The wait of a reply that needs none."""


async def _joined(first: "asyncio.Future[bytes]", second: "asyncio.Future[bytes]") -> bytes:
    """The replies of two futures, in order."""
    return await first + await second
