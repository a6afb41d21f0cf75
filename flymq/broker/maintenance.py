"""Background work that runs on the broker's clock: today, retention.

Retention deletes whole old segments; nothing else triggers it, so without this task a broker
configured with ``retention_ms`` would keep data forever. The task follows the injected clock:
with the system clock it sleeps until the next due time; with a :class:`ManualClock` it wakes
whenever a test moves the clock, so tests never sleep.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from flymq.clock import Clock, ManualClock

log = logging.getLogger("flymq.broker")


class PeriodicTask:
    """Runs ``task`` in a daemon thread every ``interval_ms`` of ``clock`` time."""

    def __init__(self, clock: Clock, interval_ms: int, task: Callable[[], object], name: str):
        self._clock, self._interval_ms, self._task = clock, interval_ms, task
        self._wake = threading.Event()
        self._stopped = False
        self.runs = 0
        """How many times the task has completed (tests wait on it with :meth:`wait_runs`)."""
        self._ran = threading.Condition()
        if isinstance(clock, ManualClock):
            clock.on_advance(self._wake.set)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        due = self._clock.now_ms() + self._interval_ms
        while True:
            wait_s = max(0.0, (due - self._clock.now_ms()) / 1000.0)
            if isinstance(self._clock, ManualClock):
                wait_s = None  # only a clock move can make the task due
            self._wake.wait(wait_s)
            self._wake.clear()
            if self._stopped:
                return
            if self._clock.now_ms() < due:
                continue
            try:
                self._task()
            except Exception:  # keep the broker serving; the next run retries
                log.exception("periodic task %s failed", self._thread.name)
            due = self._clock.now_ms() + self._interval_ms
            with self._ran:
                self.runs += 1
                self._ran.notify_all()

    def wait_runs(self, count: int, timeout: float = 5.0) -> bool:
        """Block until the task has completed ``count`` times (or the timeout passes)."""
        with self._ran:
            return self._ran.wait_for(lambda: self.runs >= count, timeout)

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
