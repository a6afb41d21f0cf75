"""A listening socket, its connections and their worker threads, for any wire protocol.

The listener holds no protocol logic: a front door gives it a factory of its
:class:`~flymq.server.connection.WireProtocol` (``flymq.server.Server`` gives FlyMQ v1's). It
owns the listening socket, the set of connections, a thread pool for calls that may wait on
the disk and a small one for CPU-heavy requests, the limits shared by all connections
(:mod:`flymq.server.limits`), and the graceful stop. It runs either in the caller's event loop
(``start``/``stop``) or in a thread of its own (``start_in_thread``/``stop_in_thread``, for
tests and embedded use). Its loop busy-polls for a moment after each request
(:mod:`flymq.server.busy_poll`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Protocol

from flymq.server.accept_guard import AcceptGuard
from flymq.server.busy_poll import BusyPoll, window_us
from flymq.server.config import EVENT_LOOPS, ServerConfig
from flymq.server.connection import Connection, WireProtocol
from flymq.server.limits import SharedLimits

log = logging.getLogger("flymq.server")


class SessionSource(Protocol):
    """What a listener opens its connections' sessions on: a ``Broker``."""

    def open_session(self, principal: str | None = None, client_id: str = "") -> Any: ...


def loop_factory(name: str = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """The function that makes a new event loop of kind ``name`` (``ServerConfig.event_loop``):
    "auto" = uvloop when importable, else asyncio; "uvloop" raises ``RuntimeError`` if missing."""
    if name not in EVENT_LOOPS:
        raise ValueError(f"unknown event loop {name!r}")
    if name != "asyncio":
        try:
            import uvloop
        except ImportError:
            if name == "uvloop":
                raise RuntimeError("event_loop = \"uvloop\" but uvloop is not installed "
                                   "(pip install uvloop), or use \"auto\"") from None
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


class Listener:
    """Accepts connections that speak the protocol ``protocol_factory(listener)`` makes (once
    per start, in the listener's loop) and opens each one a session on ``broker``.

    The listener never closes the broker: whoever created the broker owns it (``flymq
    serve`` closes it after :meth:`stop`).
    """

    def __init__(self, broker: SessionSource, config: ServerConfig | None,
                 protocol_factory: Callable[["Listener"], WireProtocol]):
        self.broker = broker
        self.config = config or ServerConfig()
        self.address: tuple[str, int] = (self.config.host, self.config.port)
        self.connections: set[Connection] = set()
        self.executor: ThreadPoolExecutor | None = None
        self.cpu_executor: ThreadPoolExecutor | None = None
        self.limits: SharedLimits | None = None
        self.busy_poll: BusyPoll | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._protocol_factory = protocol_factory
        self._listener: asyncio.Server | None = None
        self._accept_guard: AcceptGuard | None = None
        self._all_closed: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def advertised_address(self) -> str:
        """"host:port" clients should use to reach this listener."""
        return self.config.advertised_address or f"{self.address[0]}:{self.address[1]}"

    def in_worker(self, fn: Callable[..., Any], *args: Any) -> "asyncio.Future[Any]":
        """``fn(*args)`` on a worker thread, for calls that may wait on the disk; its result
        as a future of the listener's loop."""
        return self._job(self.loop.run_in_executor(self.executor, fn, *args))

    def in_cpu_worker(self, fn: Callable[..., Any], *args: Any) -> "asyncio.Future[Any]":
        """``fn(*args)`` on one of the few CPU worker threads, for requests whose work would
        hold up every other connection if it ran in the loop (inflating, filtering)."""
        return self._job(self.loop.run_in_executor(self.cpu_executor, fn, *args))

    def _job(self, future: "asyncio.Future[Any]") -> "asyncio.Future[Any]":
        """``future`` of a worker thread's call; the loop does not busy-poll meanwhile."""
        if self.busy_poll is not None:
            self.busy_poll.job_started(future)
        return future

    # --- lifecycle in the caller's loop -----------------------------------------------------

    async def start(self) -> None:
        """Bind and start accepting; returns once the socket listens."""
        cfg = self.config
        self.loop = asyncio.get_running_loop()
        protocol = self._protocol_factory(self)
        self.executor = ThreadPoolExecutor(cfg.worker_threads, thread_name_prefix="flymq-io")
        self.cpu_executor = ThreadPoolExecutor(cfg.cpu_worker_threads,
                                               thread_name_prefix="flymq-cpu")
        self.limits = SharedLimits(cfg, self.loop)
        spin = window_us(cfg.busy_poll_us)
        self.busy_poll = BusyPoll(self.loop, spin) if spin else None
        self._all_closed = asyncio.Event()
        self._all_closed.set()
        self._listener = await self.loop.create_server(
            lambda: Connection(self, protocol), cfg.host, cfg.port,
            backlog=cfg.listen_backlog, reuse_address=True)
        self._accept_guard = AcceptGuard(self.loop, protocol.error_reply)  # out of descriptors
        self.address = self._listener.sockets[0].getsockname()[:2]
        log.info("listening on %s:%d (busy poll: %d µs)", *self.address, spin)

    async def stop(self) -> None:
        """Stop accepting, answer requests already received, close every connection.

        Long polls are answered at once with what is there. Connections still busy after
        ``shutdown_timeout_s`` (e.g. a client that stopped reading) are dropped.
        """
        if self._listener is None:
            return
        self._listener.close()
        for conn in list(self.connections):
            conn.shutdown()
        try:
            await asyncio.wait_for(self._all_closed.wait(), self.config.shutdown_timeout_s)
        except asyncio.TimeoutError:
            log.warning("dropping %d connections that did not finish in time",
                        len(self.connections))
            for conn in list(self.connections):
                conn.transport.abort()
            await self._all_closed.wait()
        await self._listener.wait_closed()
        self._listener = None
        self._accept_guard.close()
        self.limits.close()
        await asyncio.to_thread(self.executor.shutdown)  # calls still on disk finish first
        await asyncio.to_thread(self.cpu_executor.shutdown)

    async def serve_until_signalled(self, on_ready: Callable[[], None]) -> None:
        """Start, call ``on_ready``, run until SIGINT/SIGTERM, then stop gracefully."""
        await self.start()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, stop.set)
        on_ready()
        await stop.wait()
        log.info("shutting down")
        await self.stop()

    # --- lifecycle in a thread of its own ---------------------------------------------------

    def start_in_thread(self) -> tuple[str, int]:
        """Run the listener in a daemon thread with its own loop (``config.event_loop``);
        returns the bound address."""
        started = threading.Event()
        failure: list[BaseException] = []
        new_loop = loop_factory(self.config.event_loop)

        def run() -> None:
            loop = new_loop()
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="flymq-server", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self.address

    def stop_in_thread(self) -> None:
        """Graceful :meth:`stop` from another thread, then end the listener's thread."""
        if self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self._thread = None

    # --- connection bookkeeping (called by Connection) --------------------------------------

    def _register(self, conn: Connection) -> bool:
        """Admit ``conn``; when full, in the slot of the oldest incomplete frame's
        connection (a client that trickles bytes cannot keep others out)."""
        if self._listener is None:
            return False
        if len(self.connections) >= self.config.max_connections:
            victim = self.limits.oldest_incomplete()
            if victim is None:
                return False
            victim.evict()
            self._unregister(victim)
        self.connections.add(conn)
        self._all_closed.clear()
        return True

    def _unregister(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        if not self.connections:
            self._all_closed.set()
