"""What bounds a listener's connections all together, whatever each one sends.

- **Buffered request bytes.** Each connection reports the request bytes it holds (the frame
  it is receiving plus received frames not yet answered). Once they add up to
  ``ServerConfig.max_buffered_request_bytes``, every connection in the middle of a frame stops
  reading (the rest of its frame waits in the kernel, not in the server); a connection between
  frames still reads, so small requests are still answered, and waits too if it then holds a
  partial frame. The connection whose frame is the oldest incomplete one keeps reading, so
  that frames always complete, one at a time, even when a single one is larger than the limit.
  Waiting connections resume oldest first, only as many as one read each (``READ_SIZE``) can
  fit under the limit. A connection whose read starts a frame while even the slack above the
  limit (a quarter of it) is spent is closed with an error instead: the total stays under
  1.25 times the limit plus the oldest frame, however many connections send.
- **Incomplete frames.** A frame must arrive whole within ``frame_timeout_s`` of its first
  byte. Connections holding a partial frame are kept oldest first: the deadline sweep stops
  at the first one still in time, and a full listener gives the slot of the oldest one to a
  new connection.

The connection does the per-read bookkeeping (:class:`~flymq.server.connection.Connection`
reports ``changed``, ``started``, ``finished`` and ``forget``, and asks ``must_wait`` and
``overflowing``); a connection's state lives there, this object only orders them.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flymq.server.config import ServerConfig
    from flymq.server.connection import Connection

#: The most one ``data_received`` can add (asyncio's and uvloop's read size): a resumed
#: connection may add this much before it waits again.
READ_SIZE = 256 * 1024


class SharedLimits:
    """The buffered-bytes budget and the incomplete-frame registry of one listener."""

    def __init__(self, config: "ServerConfig", loop: asyncio.AbstractEventLoop):
        self.max_bytes = config.max_buffered_request_bytes
        self.frame_timeout = config.frame_timeout_s
        self.held = 0
        """Request bytes all connections hold."""
        self._loop = loop
        self._incomplete: dict["Connection", float] = {}  # -> first byte's time, oldest first
        self._waiting: dict["Connection", None] = {}      # paused for the budget, oldest first
        self._sweep: asyncio.TimerHandle | None = None

    # --- the byte budget --------------------------------------------------------------------

    def changed(self, delta: int) -> None:
        """A connection now holds ``delta`` bytes more (or fewer)."""
        was_full = self.held >= self.max_bytes
        self.held += delta
        if delta > 0:
            if not was_full and self.held >= self.max_bytes:
                for conn in list(self._incomplete)[1:]:  # partial frames wait from now on,
                    conn.wait_for_budget()               # except the oldest
        elif self._waiting and self.held < self.max_bytes:
            self._resume()

    @property
    def overflowing(self) -> bool:
        """The slack above the limit is spent too: new partial frames are refused."""
        return self.held > self.max_bytes + self.max_bytes // 4

    def must_wait(self, conn: "Connection") -> bool:
        """Whether ``conn``, in the middle of a frame, must stop reading for the budget."""
        return self.held >= self.max_bytes and next(iter(self._incomplete), None) is not conn

    def wait(self, conn: "Connection") -> None:
        self._waiting[conn] = None

    def _grant_oldest(self) -> None:
        """The oldest incomplete frame reads on whatever the budget: it completes (and its
        bytes are answered and freed) or misses its deadline."""
        oldest = next(iter(self._incomplete), None)
        if oldest is not None and oldest in self._waiting:
            del self._waiting[oldest]
            oldest.budget_granted()

    def _resume(self) -> None:
        room = self.max_bytes - self.held
        waiting = self._waiting
        while waiting and room >= READ_SIZE:
            conn = next(iter(waiting))
            del waiting[conn]
            room -= READ_SIZE
            conn.budget_granted()

    # --- incomplete frames ------------------------------------------------------------------

    def started(self, conn: "Connection", at: float) -> None:
        """``conn`` began receiving a frame at ``at`` (``time.monotonic``, the clock of the
        connections)."""
        self._incomplete.pop(conn, None)  # to the end: the newest
        self._incomplete[conn] = at
        if self._sweep is None and self.frame_timeout:
            self._sweep = self._loop.call_later(self.frame_timeout, self._expire)

    def finished(self, conn: "Connection") -> None:
        """``conn`` holds no partial frame any more."""
        self._incomplete.pop(conn, None)
        if self._waiting:
            self._grant_oldest()

    def forget(self, conn: "Connection", held: int) -> None:
        """``conn`` is gone, with the ``held`` bytes it held."""
        self._incomplete.pop(conn, None)
        self._waiting.pop(conn, None)
        if held:
            self.changed(-held)
        if self._waiting:
            self._grant_oldest()

    def oldest_incomplete(self) -> "Connection | None":
        return next(iter(self._incomplete), None)

    def _expire(self) -> None:
        """Close every connection whose frame is past its deadline; re-arm for the next."""
        self._sweep = None
        now = time.monotonic()
        incomplete = self._incomplete
        while incomplete:
            conn, since = next(iter(incomplete.items()))
            left = since + self.frame_timeout - now
            if left > 0:
                self._sweep = self._loop.call_later(left, self._expire)
                break
            del incomplete[conn]
            conn.frame_timed_out(self.frame_timeout)
        if self._waiting:
            self._grant_oldest()

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
