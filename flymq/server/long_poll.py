"""A FETCH_EX that waits for data (long poll), as a future of its reply frame."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from flymq import protocol as m
from flymq.protocol import Op, encode_frame

if TYPE_CHECKING:
    from flymq.broker.session import Session
    from flymq.server.flymq_v1 import FlyMQv1


class LongPoll(asyncio.Future):
    """Answered when the broker reports new data, at the deadline, or at once when the
    connection or the server shuts down (:meth:`wake`, which the connection layer calls)."""

    def __init__(self, d: "FlyMQv1", session: "Session", req: m.FetchExRequest, offset: int):
        super().__init__(loop=d.loop)
        self._d, self._session, self._req, self._offset = d, session, req, offset
        self._cancel_watch = session.watch(req.topic, req.partition, offset, self._from_broker)
        self._timer = d.loop.call_later(req.max_wait_ms / 1000, self.wake)
        self.add_done_callback(self._release)

    def _from_broker(self) -> None:
        try:
            self._d.loop.call_soon_threadsafe(self.wake)
        except RuntimeError:  # the loop is already closed: nobody is waiting any more
            pass

    def wake(self) -> None:
        """Answer now with what is there."""
        if self.done():
            return
        d = self._d
        try:
            reply = encode_frame(Op.FETCH_EX,
                                 d.fetch_ex_now(self._session, self._req, self._offset).encode())
        except Exception as exc:
            reply = d.fail(Op.FETCH_EX, exc)
        self.set_result(reply)

    def _release(self, _: asyncio.Future) -> None:
        self._timer.cancel()
        self._cancel_watch()
