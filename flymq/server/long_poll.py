"""Replies that wait for the broker (long polls), as futures of their reply frames.

A FETCH_EX with a wait and a WAIT_RECORDS over a consumer's partitions are both a
:class:`WatchedReply`: answered when the broker reports a record at one of the watched
positions, at the deadline, or at once when the connection or the server shuts down
(:meth:`WatchedReply.wake`, which the connection layer calls). A CPU-heavy FETCH_EX (a filter,
many records) is a :class:`ScanThenPoll`: its scan on a CPU worker, then such a long poll.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Callable, Iterable

from flymq import protocol as m
from flymq.protocol import Op, encode_frame

if TYPE_CHECKING:
    from flymq.broker.session import Session
    from flymq.server.flymq_v1 import FlyMQv1


class WatchedReply(asyncio.Future):
    """A reply frame computed by ``answer()`` once a watched position has a record, the wait
    of ``wait_s`` is over, or the connection or server shuts down. ``in_worker``: run
    ``answer`` there (a CPU-heavy one, e.g. a filtered scan), not in the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, session: "Session",
                 positions: Iterable[tuple[str, int, int]], wait_s: float,
                 answer: Callable[[], bytes],
                 in_worker: Callable[..., "asyncio.Future[bytes]"] | None = None):
        super().__init__(loop=loop)
        self._answer = answer
        self._in_worker = in_worker
        self._answering = False
        self._cancels = [session.watch(topic, partition, offset, self._from_broker)
                         for topic, partition, offset in positions]
        self._timer = loop.call_later(wait_s, self.wake)
        self.add_done_callback(self._release)

    def _from_broker(self) -> None:
        try:
            self.get_loop().call_soon_threadsafe(self.wake)
        except RuntimeError:  # the loop is already closed: nobody is waiting any more
            pass

    def wake(self) -> None:
        """Answer now with what is there."""
        if self.done() or self._answering:
            return
        if self._in_worker is None:
            self.set_result(self._answer())
            return
        self._answering = True
        self._in_worker(self._answer).add_done_callback(self._answered)

    def _answered(self, answer: "asyncio.Future[bytes]") -> None:
        if not self.done():  # (a closed connection cancelled it meanwhile)
            self.set_result(answer.result())  # answer() encodes its errors, never raises

    def _release(self, _: asyncio.Future) -> None:
        self._timer.cancel()
        for cancel in self._cancels:
            cancel()


class ScanThenPoll(asyncio.Future):
    """A CPU-heavy FETCH_EX: the scan on a CPU worker; if it found nothing and the client
    waits, a long poll from where the scan stopped (its re-scans on the CPU worker too).
    Woken like a long poll."""

    def __init__(self, d: "FlyMQv1", session: "Session", req: m.FetchExRequest):
        super().__init__(loop=d.loop)
        self._d, self._session, self._req = d, session, req
        self._poll: WatchedReply | None = None
        self._woken = False
        d.server.in_cpu_worker(self._scan).add_done_callback(self._scanned)
        self.add_done_callback(self._release)

    def _scan(self) -> bytes | int:
        """On the CPU worker: the reply frame, or the offset to wait at."""
        d, req = self._d, self._req
        try:
            reply = d.fetch_ex_now(self._session, req, req.offset)
        except Exception as exc:
            return d.fail(Op.FETCH_EX, exc)
        if reply.offsets or req.max_wait_ms <= 0:
            return encode_frame(Op.FETCH_EX, reply.encode())
        return reply.next_offset

    def _scanned(self, scan: "asyncio.Future[bytes | int]") -> None:
        if self.done():  # the connection went away meanwhile
            return
        answer = scan.result()
        if type(answer) is bytes:
            self.set_result(answer)
            return
        d = self._d
        self._poll = long_poll(d, self._session, self._req, answer, d.server.in_cpu_worker)
        self._poll.add_done_callback(self._polled)
        if self._woken:
            self._poll.wake()

    def _polled(self, poll: WatchedReply) -> None:
        if not self.done() and not poll.cancelled():
            self.set_result(poll.result())

    def wake(self) -> None:
        """Answer now with what is there (once the scan is done)."""
        self._woken = True
        if self._poll is not None:
            self._poll.wake()

    def _release(self, _: asyncio.Future) -> None:
        if self._poll is not None and not self._poll.done():
            self._poll.cancel()


def long_poll(d: "FlyMQv1", session: "Session", req: m.FetchExRequest, offset: int,
              in_worker: Callable[..., "asyncio.Future[bytes]"] | None = None) -> WatchedReply:
    """A FETCH_EX from ``offset`` that waits up to ``req.max_wait_ms`` for a record (its
    answer computed ``in_worker`` when given)."""
    return WatchedReply(d.loop, session, [(req.topic, req.partition, offset)],
                        req.max_wait_ms / 1000, partial(_fetch_ex_reply, d, session, req, offset),
                        in_worker)


def _fetch_ex_reply(d: "FlyMQv1", session: "Session", req: m.FetchExRequest,
                    offset: int) -> bytes:
    try:
        return encode_frame(Op.FETCH_EX, d.fetch_ex_now(session, req, offset).encode())
    except Exception as exc:
        return d.fail(Op.FETCH_EX, exc)
