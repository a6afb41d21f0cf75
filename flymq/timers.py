"""Callbacks at points in a clock's time, for the broker's coordinators.

Retention today, and later sessions, delayed delivery and transaction timeouts, each need "run
this at clock time T". One :class:`TimerService` per broker serves them all with one thread
instead of a polling thread each. It follows the injected clock through the :class:`Clock`
protocol alone: with a clock whose time passes by itself the thread sleeps until the next due
time; with a clock that jumps (a test's ``ManualClock``) the jump itself runs everything that
became due before ``advance`` returns, so tests assert right after moving time, never sleep.
"""

from __future__ import annotations

import logging
import math
import threading
from itertools import count
from operator import index
from typing import Callable

from sortedcontainers import SortedList

from flymq.clock import Clock

log = logging.getLogger("flymq.timers")

MAX_WAIT_S = 1.0
"""The longest the thread sleeps at once: the system clock's wall time can be stepped (NTP,
suspend), and a due time must not wait for a sleep computed before the step."""

_SEQ_SPAN = 1 << 64
"""Timers are keyed ``due_ms * _SEQ_SPAN + seq``: one int orders them by due time, then
scheduling order; ints compare faster than ``(due, seq)`` tuples and are no work for the
garbage collector (a million tuple keys sorted four times slower here)."""


class Timer:
    """A scheduled callback, returned by :meth:`TimerService.call_at`."""

    __slots__ = ("_service", "_key")

    def __init__(self, service: "TimerService", key: int):
        self._service, self._key = service, key

    @property
    def due_ms(self) -> int:
        """The clock time (ms since the epoch) at or after which the callback runs."""
        return self._key // _SEQ_SPAN

    def cancel(self) -> bool:
        """Make sure the callback never runs. True if this call stopped it; False if it has
        run, is running or was already cancelled. Idempotent."""
        return self._service._cancel(self._key)

    def __repr__(self) -> str:
        return f"<Timer due_ms={self.due_ms}>"


class TimerService:
    """Runs callbacks at points in ``clock`` time on one thread; :meth:`close` stops it.

    Callbacks run one at a time, in due order (ties in scheduling order). A callback that
    raises is logged; the others still run. With a clock that jumps, the jump runs what became
    due in the jumping thread, including timers its callbacks schedule for a time already
    reached; other timers that are due when scheduled run on the service's thread.
    """

    def __init__(self, clock: Clock):
        self._clock = clock
        self._due: SortedList = SortedList()  # keys (see _SEQ_SPAN) of pending timers...
        self._scheduled: list[int] = []  # ...but those added since _due was last looked at
        self._callbacks: dict[int, Callable[[], object]] = {}  # of the keys in either
        self._seq = count()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._closed = False
        self._runner: threading.Thread | None = None  # the thread running callbacks now
        self._sleeping_until: float = -math.inf  # the key the thread sleeps for, if it does
        self._thread = threading.Thread(target=self._loop, name="flymq-timers", daemon=True)
        self._unsubscribe = clock.on_advance(self._run_due)
        self._thread.start()

    def call_at(self, due_ms: int, callback: Callable[[], object]) -> Timer:
        """Run ``callback()`` once the clock reads ``due_ms`` or later. On a closed service the
        timer never runs (callbacks that re-arm themselves may race with close)."""
        due_ms = index(due_ms)
        with self._lock:
            key = due_ms * _SEQ_SPAN + next(self._seq)
            if not self._closed:
                self._scheduled.append(key)
                self._callbacks[key] = callback
                if key < self._sleeping_until:
                    self._cond.notify_all()
        return Timer(self, key)

    def call_later(self, delay_ms: int, callback: Callable[[], object]) -> Timer:
        """Run ``callback()`` once ``delay_ms`` of clock time has passed."""
        return self.call_at(self._clock.now_ms() + index(delay_ms), callback)

    def call_every(self, interval_ms: int, callback: Callable[[], object]) -> None:
        """Run ``callback()`` every ``interval_ms`` of clock time until the service closes.
        Each run schedules the next before it calls ``callback``, so a run that raises (the
        service logs it) is tried again one interval later."""
        interval_ms = index(interval_ms)

        def run() -> None:
            self.call_later(interval_ms, run)
            callback()
        self.call_later(interval_ms, run)

    def close(self) -> None:
        """Stop the thread; pending timers never run. Waits for a callback running in another
        thread to finish. Idempotent, and callable from a callback."""
        me = threading.current_thread()
        with self._cond:
            self._closed = True
            self._due.clear()
            self._scheduled.clear()
            self._callbacks.clear()
            self._cond.notify_all()
            while self._runner not in (None, me):
                self._cond.wait()
        self._unsubscribe()
        if self._thread is not me:
            self._thread.join()

    def _cancel(self, key: int) -> bool:
        with self._lock:
            if self._callbacks.pop(key, None) is None:
                return False
            self._sorted_due().remove(key)
        return True

    def _sorted_due(self) -> SortedList:
        """The keys of all pending timers, in order. Keys scheduled in a row are sorted in
        one go when first needed: a million take a tenth of the time of adding each."""
        if self._scheduled:
            self._due.update(self._scheduled)
            self._scheduled.clear()
        return self._due

    def _loop(self) -> None:
        while self._wait_until_due():
            self._run_due()

    def _wait_until_due(self) -> bool:
        """Sleep until the first timer is due (or a notification); False once closed."""
        with self._cond:
            try:
                while not self._closed:
                    wait_s, self._sleeping_until = None, math.inf
                    if due := self._sorted_due():
                        self._sleeping_until = due[0]
                        delay_ms = due[0] // _SEQ_SPAN - self._clock.now_ms()
                        if delay_ms <= 0:
                            return True
                        wait_s = self._clock.real_seconds(delay_ms)
                    self._cond.wait(None if wait_s is None else min(wait_s, MAX_WAIT_S))
                return False
            finally:
                self._sleeping_until = -math.inf  # awake: it looks at the timers again

    def _run_due(self) -> None:
        """Run every due timer in order. One thread at a time; a callback that moves the clock
        runs this again nested, in its own thread."""
        me = threading.current_thread()
        with self._cond:
            while self._runner not in (None, me):
                if self._closed:
                    return
                self._cond.wait()
            outermost = self._runner is None
            self._runner = me
        try:
            while (callback := self._pop_due()) is not None:
                try:
                    callback()
                except Exception:  # one failing callback must not stop the others
                    log.exception("timer callback %r failed", callback)
        finally:
            if outermost:
                with self._cond:
                    self._runner = None
                    self._cond.notify_all()

    def _pop_due(self) -> Callable[[], object] | None:
        with self._lock:
            due = self._sorted_due()
            if self._closed or not due or due[0] // _SEQ_SPAN > self._clock.now_ms():
                return None
            return self._callbacks.pop(due.pop(0))
