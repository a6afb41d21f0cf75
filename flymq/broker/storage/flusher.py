"""One background thread that fsyncs every dirty log on its interval.

A single Flusher serves any number of logs (1000 partitions do not mean 1000 threads). Logs
with the ``interval`` policy get their data fsynced and checkpointed; ``always`` logs are
already fsynced by group commit and only get their recovery checkpoint moved forward.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

MAX_WAIT_S = 1.0  # the longest the flusher thread sleeps between checks


class Flushable(Protocol):
    def flush_interval_s(self) -> float: ...
    def needs_flush(self) -> bool: ...
    def flush(self) -> None: ...


class Flusher:
    """Calls ``flush()`` on each registered log at most every its interval, when dirty."""

    _shared: "Flusher | None" = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[Flushable, float] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.errors: list[BaseException] = []   # last failures, for whoever supervises

    @classmethod
    def shared(cls) -> "Flusher":
        """The process-wide flusher used by logs that were not given one."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def register(self, log: Flushable) -> None:
        with self._cond:
            self._due[log] = time.monotonic() + log.flush_interval_s()
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="flymq-flusher",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def unregister(self, log: Flushable) -> None:
        with self._cond:
            self._due.pop(log, None)

    def flush_due(self, now: float | None = None) -> float:
        """Flush every dirty log whose interval has passed; returns seconds until the next."""
        now = time.monotonic() if now is None else now
        with self._cond:
            due = [log for log, at in self._due.items() if at <= now]
        for log in due:
            try:
                if log.needs_flush():
                    log.flush()
            except Exception as exc:  # a broken log must not stop the others' durability
                self.errors = (self.errors + [exc])[-10:]
            with self._cond:
                if log in self._due:
                    self._due[log] = now + log.flush_interval_s()
        with self._cond:
            wait = min(self._due.values(), default=now + 1.0) - time.monotonic()
        # at most a second: a due time far ahead (a caller's own ``now``) must neither stall
        # the thread nor pass Condition.wait a timeout the platform cannot hold
        return min(max(0.0, wait), MAX_WAIT_S)

    def _run(self) -> None:
        wait = 0.0
        while True:
            with self._cond:
                if self._stopped:
                    return
                self._cond.wait(wait)
                if self._stopped:
                    return
            wait = self.flush_due()

    def close(self) -> None:
        """Stop the thread (logs still registered are not flushed again by it)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
