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
    """What every time-reading component takes. Waiting for clock time (see
    :class:`flymq.timers.TimerService`) needs the last two methods: a clock either passes by
    itself (sleep for :meth:`real_seconds`) or jumps (listen with :meth:`on_advance`)."""

    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the Unix epoch."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals and deadlines)."""

    def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after every jump of this clock, in the jumping thread, before
        the jump returns; returns a function that unsubscribes it (idempotent)."""

    def real_seconds(self, ms: float) -> float | None:
        """Real seconds in which ``ms`` of this clock's time passes by itself; None if it never
        does (only a jump, announced to :meth:`on_advance` listeners, moves it)."""


def _stay_subscribed() -> None:
    """The unsubscribe function of a clock that never jumps: there is nothing to undo."""


class SystemClock:
    """The real clocks of the operating system."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()

    def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Never calls ``listener``: this time moves on its own, not in jumps."""
        return _stay_subscribed

    def real_seconds(self, ms: float) -> float:
        return ms / 1000.0


class ManualClock:
    """A clock that stands still until a test moves it.

    Listeners registered with :meth:`on_advance` run after every move, so background work
    that waits for time (schedulers, flushers) can be woken without real sleeping.
    """

    def __init__(self, start_ms: int = 1_700_000_000_000):
        self._now_ms = start_ms
        self._mono = 0.0
        self._lock = threading.Lock()
        self._listeners: dict[object, Callable[[], None]] = {}

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic(self) -> float:
        return self._mono

    def advance(self, ms: int | float) -> None:
        """Move time forward, then call every :meth:`on_advance` listener before returning."""
        if ms < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now_ms += int(ms)
            self._mono += ms / 1000.0
            listeners = list(self._listeners.values())
        for listener in listeners:
            listener()

    def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
        token = object()  # the same listener may be subscribed twice
        with self._lock:
            self._listeners[token] = listener

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.pop(token, None)
        return unsubscribe

    def real_seconds(self, ms: float) -> None:
        """None: this time stands still until :meth:`advance`."""
        return None


SYSTEM_CLOCK = SystemClock()
