"""A listener out of file descriptors: answer the connections it cannot keep, and say so once.

When ``accept()`` fails with EMFILE or ENFILE, asyncio's accept loop logs a traceback and
schedules a retry for each attempt, up to the listen backlog every time the socket is readable:
the log and the loop drown in them (a server whose stderr nobody reads stalls on the full
pipe), while the client waits in the backlog without hearing why. :class:`AcceptGuard`,
installed as the loop's exception handler for that one case, keeps a descriptor in reserve:
it frees it, accepts the waiting connection, answers it with the protocol's error reply for a
:class:`StorageError` (``cannot accept a connection on <host:port>: too many open files``,
whose hint the client shows) and closes it, then takes the reserve back. It logs one warning a
minute. libuv (under uvloop) keeps such a reserve itself and closes the connection unanswered.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import time
from typing import Any, Callable

from flymq.errors import StorageError

log = logging.getLogger("flymq.server")

_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
LOG_EVERY_S = 60.0


class AcceptGuard:
    """The exception handler of one listener's loop (others' contexts go to the handler that
    was there before); :meth:`close` gives the reserve back and restores that handler."""

    def __init__(self, loop: asyncio.AbstractEventLoop, error_reply: Callable[[Exception], bytes]):
        self._loop = loop
        self._error_reply = error_reply
        self._previous = loop.get_exception_handler()
        self._reserve = _take_reserve()
        self._logged_at = -LOG_EVERY_S
        self.refused = 0
        loop.set_exception_handler(self)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc, listening = context.get("exception"), context.get("socket")
        if not (isinstance(exc, OSError) and exc.errno in _OUT_OF_DESCRIPTORS
                and listening is not None):
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        address = "%s:%d" % listening.getsockname()[:2]
        error = StorageError(f"cannot accept a connection on {address}: "
                             f"{os.strerror(exc.errno).lower()}")
        self._refuse(listening.fileno(), error)
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning("%s (%d refused so far)\n  Hint: %s", error.message, self.refused,
                        error.hint)

    def _refuse(self, fd: int, error: StorageError) -> None:
        """Accept one waiting connection with the reserve descriptor, answer ``error``,
        close it; nothing when none waits or the reserve is gone."""
        if self._reserve is None:
            self._reserve = _take_reserve()
            if self._reserve is None:
                return
        os.close(self._reserve)
        self._reserve = None
        listening = socket.socket(fileno=fd)  # the listener's own descriptor, not a copy
        try:
            conn, _ = listening.accept()
        except OSError:  # none waiting any more (or still no descriptor)
            conn = None
        finally:
            listening.detach()
        if conn is not None:
            with conn:
                conn.setblocking(False)
                try:
                    conn.send(self._error_reply(error))
                    conn.shutdown(socket.SHUT_WR)
                    conn.recv(1 << 16)  # a request already there would turn the close into a reset
                except OSError:
                    pass
            self.refused += 1
        self._reserve = _take_reserve()

    def close(self) -> None:
        if self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None


def _take_reserve() -> int | None:
    """A descriptor to hold in reserve; None when there is none to take (the next refusal
    tries again)."""
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None
