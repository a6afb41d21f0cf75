"""WAIT_RECORDS: a consumer's long-poll over all its partitions, as a future of its reply.

One request names every position an idle consumer waits on; the reply comes as soon as any of
them has a record (or the deadline passes), listing which. The consumer then fetches only
those: one round trip while idle instead of one long-poll per partition in turn.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Callable

from flymq import protocol as m
from flymq.errors import FlyMQError
from flymq.protocol import Op, encode_frame

if TYPE_CHECKING:
    from flymq.broker.session import Session
    from flymq.server.flymq_v1 import FlyMQv1

#: Longest wait a request may ask for: a client widens its socket timeout by as much.
MAX_WAIT_MS = 60_000


def ready_positions(session: "Session", req: m.WaitRecordsRequest) -> list[int]:
    """Indexes of the positions with a record at or past them. A position past the log end
    (the topic was re-created) or whose partition is gone counts as ready too, so that the
    consumer fetches there and learns where to go."""
    ready = []
    for i, p in enumerate(req.positions):
        try:
            if session.offsets(p.topic, p.partition)[1] != p.offset:
                ready.append(i)
        except FlyMQError:
            ready.append(i)
    return ready


class RecordWait(asyncio.Future):
    """Answered when the broker reports a record at any position, at the deadline, or at once
    when the connection or the server shuts down (:meth:`wake`)."""

    def __init__(self, d: "FlyMQv1", session: "Session", req: m.WaitRecordsRequest):
        super().__init__(loop=d.loop)
        self._d, self._session, self._req = d, session, req
        self._cancels: list[Callable[[], None]] = []
        for p in req.positions:
            self._cancels.append(session.watch(p.topic, p.partition, p.offset,
                                               self._from_broker))
        self._timer = d.loop.call_later(min(req.max_wait_ms, MAX_WAIT_MS) / 1000, self.wake)
        self.add_done_callback(self._release)

    def _from_broker(self) -> None:
        try:
            self._d.loop.call_soon_threadsafe(self.wake)
        except RuntimeError:  # the loop is already closed: nobody is waiting any more
            pass

    def wake(self) -> None:
        """Answer now with the positions that are ready."""
        if self.done():
            return
        try:
            reply = encode_frame(Op.WAIT_RECORDS, m.WaitRecordsResponse(
                ready_positions(self._session, self._req)).encode())
        except Exception as exc:
            reply = self._d.fail(Op.WAIT_RECORDS, exc)
        self.set_result(reply)

    def _release(self, _: asyncio.Future) -> None:
        self._timer.cancel()
        for cancel in self._cancels:
            cancel()
