"""Fault injection into a broker, for an application's own tests: make produces or fetches
fail, pause a partition, fill the disk.

The broker asks its fault injector at its two single points, ``Broker.append`` (every
produce, embedded or over TCP, single or batched) and ``Broker.fetch_runs``/``consume``
(every read), so a fault behaves the same through ``FlyMQClient(broker=...)``,
``flymq_server`` and any producer or consumer on top of them::

    with Faults(broker) as faults:
        faults.fail_next("produce", 2, NotLeaderError("injected"))
        ...                       # the next two produces fail, the third succeeds
        faults.pause("orders", 0) # consumers of orders/0 see nothing new until resume()
        faults.limit_disk(1_000_000)  # produces fail with the disk-full error past 1 MB

Without a fault injector the broker pays one ``is None`` test per call.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flymq.broker.storage.files import storage_error
from flymq.errors import FlyMQError, ServerError, StorageError

if TYPE_CHECKING:
    from flymq.broker import Broker
    from flymq.broker.appends import AppendRequest

OPERATIONS = ("produce", "fetch")

__all__ = ["Faults", "OPERATIONS", "disk_full_error"]


def disk_full_error(path: Path) -> StorageError:
    """The error a produce gets when the disk is full: the storage layer's own for ENOSPC."""
    return storage_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "append to")


class _Failure:
    __slots__ = ("remaining", "error", "topic")

    def __init__(self, remaining: int, error: Any, topic: str | None):
        self.remaining, self.error, self.topic = remaining, error, topic


class Faults:
    """The fault injector of one broker; installed on creation, removed by :meth:`close`
    (or the end of a ``with`` block). Thread-safe. ``injected[op]`` counts the failures
    handed out, for assertions."""

    def __init__(self, broker: "Broker"):
        if broker.faults is not None:
            raise RuntimeError("this broker already has a fault injector")
        self.broker = broker
        self._lock = threading.Lock()
        self._failures: dict[str, list[_Failure]] = {op: [] for op in OPERATIONS}
        self._paused: set[tuple[str, int]] = set()
        self._disk_limit: int | None = None
        self.injected = {op: 0 for op in OPERATIONS}
        broker.faults = self

    # --- what a test asks for -------------------------------------------------------------
    def fail_next(self, operation: str, count: int = 1, error: Any = None, *,
                  topic: str | None = None) -> None:
        """Make the next ``count`` ``operation``s ("produce" or "fetch"), of ``topic`` or of
        any topic, fail with ``error``: an exception instance, an exception class (called
        with a message) or None (a ``ServerError`` saying it was injected). Over TCP the
        client gets the error its wire text maps to, as it would from a real failure. A
        failed produce stores nothing."""
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}, not {operation!r}")
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        _error(error, operation)  # a class that cannot be built fails here, not in the broker
        with self._lock:
            self._failures[operation].append(_Failure(count, error, topic))

    def pause(self, topic: str, partition: int = 0) -> None:
        """Deliver nothing from ``topic``/``partition``: fetches answer as at the end of the
        log (long polls wait) until :meth:`resume`. Produces to it still succeed, and their
        records appear on resume, as after a stalled leader recovers."""
        with self._lock:
            self._paused.add((topic, partition))

    def resume(self, topic: str, partition: int = 0) -> None:
        with self._lock:
            self._paused.discard((topic, partition))

    def limit_disk(self, max_bytes: int | None) -> None:
        """Fail every produce that would take the data directory past ``max_bytes`` with
        the disk-full error (None: no limit). Costs a walk of the data directory per
        produce while set."""
        self._disk_limit = max_bytes

    def clear(self) -> None:
        """Remove every pending failure, pause and limit."""
        with self._lock:
            for pending in self._failures.values():
                pending.clear()
            self._paused.clear()
            self._disk_limit = None

    def close(self) -> None:
        """Uninstall: the broker behaves normally again."""
        self.clear()
        if self.broker.faults is self:
            self.broker.faults = None

    def __enter__(self) -> "Faults":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- what the broker asks -------------------------------------------------------------
    def before_append(self, request: "AppendRequest") -> None:
        """Called by ``Broker.append`` before anything is written; raises to fail it."""
        error = self._take("produce", request.topic)
        if error is not None:
            raise error
        limit = self._disk_limit
        if limit is not None:
            incoming = sum(len(r[1]) + len(r[0] or b"") for r in request.records)
            if _used_bytes(self.broker.data_dir) + incoming > limit:
                raise disk_full_error(self.broker.data_dir / "topics" / request.topic)

    def before_read(self, topic: str, partition: int) -> bool:
        """Called by the broker's reads: raises to fail one; True when the partition is
        paused (nothing to deliver)."""
        error = self._take("fetch", topic)
        if error is not None:
            raise error
        return (topic, partition) in self._paused

    def _take(self, operation: str, topic: str) -> BaseException | None:
        with self._lock:
            for failure in self._failures[operation]:
                if failure.topic in (None, topic):
                    failure.remaining -= 1
                    if not failure.remaining:
                        self._failures[operation].remove(failure)
                    self.injected[operation] += 1
                    return _error(failure.error, operation)
        return None


def _error(error: Any, operation: str) -> BaseException:
    text = f"injected fault: {operation} failed"
    if error is None:
        return ServerError(text)
    if isinstance(error, BaseException):
        return error
    if isinstance(error, type) and issubclass(error, FlyMQError):
        try:
            return error(text)
        except TypeError:  # a class whose constructor wants more than a message
            raise TypeError(f"pass an instance of {error.__name__}: it takes other "
                            "arguments than a message") from None
    return error(text)


def _used_bytes(directory: Path) -> int:
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # removed meanwhile (a rolled index, a temp file)
                pass
    return total
