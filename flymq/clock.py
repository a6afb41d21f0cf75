"""Time as the broker sees it, injectable so tests move it instead of sleeping.

Every component that reads time (the scheduler, TTL, retention, segment rolling, sessions,
transaction timeouts) takes a :class:`Clock`. Production code uses :class:`SystemClock`; tests
use :class:`ManualClock` and call :meth:`ManualClock.advance`.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the Unix epoch."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals and deadlines)."""


class SystemClock:
    """The real clocks of the operating system."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that stands still until a test moves it.

    Listeners registered with :meth:`on_advance` run after every move, so background work
    that waits for time (schedulers, flushers) can be woken without real sleeping.
    """

    def __init__(self, start_ms: int = 1_700_000_000_000):
        self._now_ms = start_ms
        self._mono = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic(self) -> float:
        return self._mono

    def advance(self, ms: int | float) -> None:
        if ms < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now_ms += int(ms)
            self._mono += ms / 1000.0
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def on_advance(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)


SYSTEM_CLOCK = SystemClock()
