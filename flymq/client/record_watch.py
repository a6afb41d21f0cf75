"""Waking idle TCP consumers when a record arrives, by long-polls on a connection of their own.

A TCP client has one connection, which serves one request at a time: a long-poll FETCH on it
would hold every other thread's requests for the whole wait. So an idle consumer's wait is
served by a :class:`RecordWatch`: a thread with a second connection that long-polls (FETCH_EX
with ``max_wait_ms``) the positions idle consumers wait on, and sets a consumer's wake-up event
as soon as a record is there. On a flymq server one WAIT_RECORDS request covers every
position of every waiter, so a record on any partition wakes its waiter at once; otherwise
(FETCH_EX only) the thread watches the positions in turn, so a record is seen within a few
steps, never later than the consumer's own polling would see it.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Callable, Sequence

from flymq.errors import FlyMQError

if TYPE_CHECKING:
    from flymq.client.tcp import TcpTransport

#: Longest wait of one long-poll when a single position is watched.
LONG_POLL_MS = 1000
#: Wait per position when several are watched in turn.
TURN_MS = 100
#: Pause after a failed long-poll (server gone): consumers then poll on their own.
RETRY_PAUSE_S = 0.5

Position = tuple[str, int, int]  # topic, partition, offset


class RecordWatch:
    """Long-polls the positions that idle consumers wait on, in a thread of its own, over a
    connection made by ``connect`` (a ``TcpTransport``; made on first use, remade after a
    failure). Thread-safe; :meth:`close` ends the thread."""

    def __init__(self, connect: Callable[[], "TcpTransport"]):
        self._connect = connect
        self._transport: TcpTransport | None = None
        self._cond = threading.Condition()
        self._watches: dict[threading.Event, Sequence[Position]] = {}
        self._ready: dict[threading.Event, set[tuple[str, int]]] = {}  # seen with records
        self._thread: threading.Thread | None = None
        self._closed = False
        self._turn = 0

    def wait(self, positions: Sequence[Position], timeout_s: float,
             wake: threading.Event) -> list[tuple[str, int]] | None:
        """Wait until ``wake`` is set, at most ``timeout_s``; it is also set when a record
        exists at or past one of ``positions``. Returns the ``(topic, partition)`` pairs seen
        with records meanwhile (None: none seen)."""
        with self._cond:
            if self._closed:
                return None
            self._watches[wake] = positions
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="flymq-record-watch",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()
        try:
            wake.wait(timeout_s)
        finally:
            with self._cond:
                if self._watches.get(wake) is positions:
                    del self._watches[wake]
                    self._cond.notify_all()
                ready = self._ready.pop(wake, None)
        return sorted(ready) if ready else None

    def _woke(self, wake: threading.Event, topic: str, partition: int) -> None:
        with self._cond:
            self._ready.setdefault(wake, set()).add((topic, partition))
        wake.set()

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify()
            transport, thread = self._transport, self._thread
        if transport is not None:  # ends a long-poll in flight at once
            sock = getattr(transport, "_sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if transport is not None:
            transport.close()

    def _next(self) -> tuple[threading.Event, Position, int] | None:
        """The watch and position to long-poll next, and for how long; None once closed."""
        with self._cond:
            while not self._closed and not self._watches:
                self._cond.wait()
            if self._closed:
                return None
            watches = list(self._watches.items())
        turn, self._turn = self._turn, self._turn + 1
        wake, positions = watches[turn % len(watches)]
        position = positions[(turn // len(watches)) % len(positions)]
        single = len(watches) == 1 and len(positions) == 1
        return wake, position, LONG_POLL_MS if single else TURN_MS

    def _connected(self) -> "TcpTransport | None":
        """A new connection, kept for the next long-polls; None if closed meanwhile."""
        transport = self._connect()
        with self._cond:
            if not self._closed:
                self._transport = transport
                return transport
        transport.close()
        return None

    def _all(self) -> list[tuple[threading.Event, Position]] | None:
        """Every watched position with its watch; None once closed."""
        with self._cond:
            while not self._closed and not self._watches:
                self._cond.wait()
            if self._closed:
                return None
            return [(wake, p) for wake, positions in self._watches.items() for p in positions]

    def _run_together(self, transport: "TcpTransport") -> bool:
        """Long-poll every position in one WAIT_RECORDS request at a time (a flymq server):
        a record on any partition wakes its waiter at once. False if the server lacks it."""
        while (jobs := self._all()) is not None:
            ready = transport.wait_records([p for _, p in jobs], LONG_POLL_MS)
            if ready is None:
                return False
            woken = set()
            for i in ready:
                if 0 <= i < len(jobs):
                    wake, (topic, partition, _) = jobs[i]
                    self._woke(wake, topic, partition)
                    woken.add(wake)
            with self._cond:  # until the woken waiters are gone (they come back with new
                # positions): asking again before would only answer their old ones again
                self._cond.wait_for(lambda: self._closed or not woken & self._watches.keys(),
                                    TURN_MS / 1000)
        return True

    def _run(self) -> None:
        try:
            transport = self._connected()
            if transport is None or self._run_together(transport):
                return
        except (FlyMQError, OSError):
            pass  # the position-by-position loop below retries and pauses
        while (job := self._next()) is not None:
            wake, (topic, partition, offset), wait_ms = job
            try:
                transport = self._transport or self._connected()
                if transport is None:
                    return
                result = transport.fetch(topic, partition, offset, 1, max_bytes=1,
                                         max_wait_ms=wait_ms)
            except (FlyMQError, OSError):
                with self._cond:
                    if self._closed:
                        return
                    self._cond.wait(RETRY_PAUSE_S)
                continue
            if result.messages or result.next_offset != offset:
                self._woke(wake, topic, partition)
