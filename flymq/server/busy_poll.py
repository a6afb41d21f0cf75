"""Busy polling: after each request the event loop keeps polling its sockets for a short
window before it lets itself sleep.

Why: a client that waits for each reply sends its next request some tens of microseconds
after the reply, and finds the loop asleep in ``epoll_wait``. Waking it costs a context
switch and, where an idle CPU halts (most virtual machines), a wake-up of the CPU itself:
more than the whole request takes to serve. Go's scheduler spins its idle threads for the
same reason; Linux's own ``busy_poll`` does it for network card queues, not for loopback.

How: while the window is open, one callback re-schedules itself with ``call_soon``; a loop
with a ready callback polls without a timeout (asyncio's and uvloop's alike), so it runs
I/O as soon as it arrives and never sleeps. Each turn yields the core first
(``sched_yield``), so a thread waiting for it (on a small machine, often the client's own)
runs before the spin goes on. The window closes ``busy_poll_us`` after the last request;
an idle server sleeps as before.

Only for one client at a time: while requests of two or more connections arrive within a
window of each other, the loop does not spin. Its wake-ups then serve several requests
each, and the clients need the cores: with upstream's Go benchmark on 2 cores, spinning
among 4 to 16 busy connections cost 10 % of their throughput. Nor while a call runs on one
of the listener's worker threads (:meth:`BusyPoll.job_started`), which needs the lock the
spin holds.

Cost: while requests keep coming less than ``busy_poll_us`` apart, the loop's thread keeps
one core busy, though never ahead of another thread that wants it. ``busy_poll_us = 0``
turns it off, for a machine whose cores are all needed elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Callable

#: The window when the loop runs in the main thread and the config leaves it to the server.
MAIN_THREAD_WINDOW_US = 100

#: Offers the core to any thread waiting for it (no such call on Windows: the spin just polls).
_sched_yield: Callable[[], None] = getattr(os, "sched_yield", lambda: None)


def window_us(configured: int | None) -> int:
    """The window for a loop starting in the calling thread: ``configured``, or when None,
    :data:`MAIN_THREAD_WINDOW_US` in the main thread and 0 in any other. A loop in a thread
    of its own shares the process with an application's threads, and Python threads take
    turns on one interpreter lock: while the loop spins, a client thread woken by its reply
    waits for the lock, and its next request waits with it."""
    if configured is not None:
        return configured
    return MAIN_THREAD_WINDOW_US if threading.current_thread() is threading.main_thread() else 0


class BusyPoll:
    """The spin of one event loop: :meth:`activity` opens or extends the window."""

    def __init__(self, loop: asyncio.AbstractEventLoop, window_us: int,
                 clock: Callable[[], float] = time.monotonic):
        self._loop = loop
        self._window = window_us / 1e6
        self._clock = clock
        self._until = 0.0
        self._crowded_until = 0.0
        self._last: object = None
        self._jobs = 0            # calls running on this process's worker threads
        self.spinning = False

    def job_started(self, future: "asyncio.Future[object]") -> None:
        """A call went to a worker thread: no spin until ``future`` is done. That thread
        needs the interpreter lock, and a spinning loop holds it: a thread that waits for
        the lock gets it only after Python's switch interval (5 ms) of asking."""
        self._jobs += 1
        future.add_done_callback(self._job_done)

    def _job_done(self, _future: object) -> None:
        self._jobs -= 1

    def activity(self, now: float, source: object) -> None:
        """A request from ``source`` (its connection) arrived at ``now`` (the clock's
        reading): poll until the window after it closes, unless another source was active
        within the window too."""
        if source is not self._last and now < self._until:
            self._crowded_until = now + self._window
        self._last = source
        self._until = now + self._window
        if not self.spinning and now >= self._crowded_until and not self._jobs:
            self.spinning = True
            self._loop.call_soon(self._spin)

    def _spin(self) -> None:
        now = self._clock()
        if self._crowded_until <= now < self._until and not self._jobs:
            _sched_yield()  # a thread waiting for this core runs first
            self._loop.call_soon(self._spin)
        else:
            self.spinning = False
