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
    ``feed`` returned (those are answered first); ``decoder.buffered`` is the number of bytes
    of a frame not yet complete (they count toward the byte budgets, and a frame must complete
    within ``frame_timeout_s``). The connection keeps the decoder in ``conn.decoder``.
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
    The last bytes to send after the decoder raised ``exc``, or before the connection layer
    closes the connection for a limit (``exc`` is then a :class:`LimitExceeded` whose text
    says which); ``b""`` closes silently.
``error_reply(exc) -> bytes``
    The reply that replaces a held reply whose ``wait()`` raised ``exc``.
``whole_frame``
    None, or an optional fast path ``whole_frame(conn, data) -> reply | None`` tried first
    when nothing is queued: the reply when ``data`` is exactly one whole frame (no frame list,
    no queue), else None (the decoder then takes ``data``).

The connection gives the protocol ``conn.session``, ``conn.peer``, ``conn.decoder`` and
``conn.server`` (the :class:`~flymq.server.listener.Listener`: ``loop``, ``config``,
``in_worker``, ``in_cpu_worker``).

Fair serving: one call of ``_pump`` (a turn) answers at most ``REQUESTS_PER_TURN`` queued
requests, or fewer once their replies reach ``max_inflight_bytes_per_connection`` (large
encodes), then yields to the loop (``call_soon``), so every other connection's reads and
replies run before this one's next turn; CPU-heavy requests are the protocol's to move to
``in_cpu_worker``. Flow control (pausing and resuming reads) stays apart from the protocol:
its own reasons are this connection's queue, unsent replies, and the listener's shared
limits (:mod:`flymq.server.limits`: the budget of buffered request bytes and the deadline of
an incomplete frame).
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

#: Requests one connection answers per turn of the event loop before the others get theirs
#: (a yield costs one ``call_soon`` per this many pipelined requests).
REQUESTS_PER_TURN = 16


class LimitExceeded(Exception):
    """Why the connection layer closes a connection for a limit (its text says which and what
    to do); the protocol's ``framing_error_reply`` tells the client."""


class HeldReply(NamedTuple):
    """A reply that is ready but may only be sent after ``wait()`` (a blocking wait, run on a
    worker thread) returns: an append acknowledged once durable (``fsync=always``)."""

    reply: bytes
    wait: Callable[[], None]


Reply = Union[bytes, HeldReply, "asyncio.Future[bytes]"]


class Decoder(Protocol):
    """See the module docstring."""

    error: Exception | None
    buffered: int

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
        self._held = 0                   # request bytes counted in the shared budget
        self._partial = False            # a frame is being received (in limits' registry)
        self._budget_wait = False        # reading paused until the shared budget has room
        self._turn_over = False          # the turn ended; the next one is scheduled
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
        self._limits = server.limits
        self._busy_poll = server.busy_poll.activity if server.busy_poll else None

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
        if self._busy_poll is not None:
            self._busy_poll(self._last_rx, self)
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
        if self.decoder.buffered or self._partial:  # a frame still incomplete, or no more
            self._track_partial(bool(frames))
        backlog = self._backlog
        error = self.decoder.error  # set when valid frames came before bad bytes
        if len(frames) == 1 and not backlog and self._waiting is None \
                and not self._write_paused and error is None and not self._turn_over:
            self._answer_one(frames[0])  # the common request/response case, no queueing
            if self._held or self._partial:
                self._account()
            return
        backlog.extend(frames)
        self._backlog_bytes += sum(len(f.payload) for f in frames)
        self._account()
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
        self._limits.forget(self, self._held)
        self._held = 0
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
        turn = REQUESTS_PER_TURN
        while backlog and self._waiting is None and not self._write_paused \
                and not self._turn_over:
            if held and not self._protocol.joins_group_commit(backlog[0]):
                break  # only appends join a group commit; the rest wait behind it
            frame = backlog.popleft()
            turn -= 1
            if not turn and backlog:  # this turn's last request; the others' turns first
                self._end_turn()
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
                    if backlog and not self._turn_over:  # a turn's worth of reply bytes
                        self._end_turn()
            else:
                if held:  # a call on a worker thread: its reply follows the held ones
                    reply = asyncio.ensure_future(_joined(self._after_durable(held), reply))
                    held = []
                self._wait_for(reply)
        if held:
            self._wait_for(self._after_durable(held))
        if out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self._held:
            self._account()
        if self._closing and not backlog and self._waiting is None:
            self._finish_close()
        else:
            self._update_reading()

    def _end_turn(self) -> None:
        self._turn_over = True
        self.server.loop.call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._turn_over = False
        self._pump()

    def _update_reading(self) -> None:
        pause = (self._closing or self._write_paused or len(self._backlog) >= self._max_queued
                 or self._backlog and self._held >= self._max_bytes or self._budget_wait)
        if pause != self.reading_paused and not self._lost:
            self.reading_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    # --- the shared limits (flymq.server.limits) --------------------------------------------

    def _account(self) -> None:
        """Report the request bytes this connection holds to the shared budget; wait for it
        when it is spent and a frame is still incomplete here (unless it is the oldest), or
        close (after answering what came before) once the budget's slack is spent too."""
        held = self.decoder.buffered + self._backlog_bytes
        if held != self._held:
            delta, self._held = held - self._held, held
            self._limits.changed(delta)
        if self._partial and self._limits.must_wait(self):
            if self._limits.overflowing:  # a new frame after the budget's slack is spent too
                self._close_when_done(self._protocol.framing_error_reply(self, LimitExceeded(
                    f"the server is busy: {self._limits.held} bytes of requests are waiting "
                    "(max_buffered_request_bytes); closing the connection, try again later")))
            else:
                self.wait_for_budget()

    def _track_partial(self, completed: bool) -> None:
        """Keep the listener's registry of incomplete frames: a frame started in this read
        (or before it, when none completed) and is still incomplete, or none is."""
        if self.decoder.buffered:
            if completed or not self._partial:  # a new frame: its deadline starts now
                self._partial = True
                self._limits.started(self, self._last_rx)
        elif self._partial:
            self._partial = False
            self._limits.finished(self)

    def wait_for_budget(self) -> None:
        """Stop reading until the shared budget of buffered request bytes has room."""
        if not self._budget_wait and not self._lost:
            self._budget_wait = True
            self._limits.wait(self)
            self._update_reading()

    def budget_granted(self) -> None:
        self._budget_wait = False
        self._update_reading()

    def frame_timed_out(self, timeout: float) -> None:
        """The frame being received missed its deadline: say so, then close."""
        log.info("closing %s: a frame incomplete for %g s", self.peer, timeout)
        self._close_now(LimitExceeded(
            f"request not completed within {timeout:g} s of its first byte (frame_timeout_s); "
            "closing the connection"))

    def evict(self) -> None:
        """Give up this connection's slot to a new one (the listener is full and this one's
        frame is the oldest incomplete)."""
        log.warning("connection limit reached; closing %s, whose frame is the oldest "
                    "incomplete", self.peer)
        self._close_now(LimitExceeded(
            "the server is at its connection limit (max_connections) and this connection's "
            "request was the oldest incomplete one; closing the connection"))

    def _close_now(self, exc: LimitExceeded) -> None:
        """Close at once with ``exc`` as the last reply (what is queued is dropped)."""
        if self._lost:
            return
        if self._partial:
            self._partial = False
            self._limits.finished(self)
        self._closing = True
        final = self._protocol.framing_error_reply(self, exc)
        if final:
            self.transport.write(final)
        self.transport.close()

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
