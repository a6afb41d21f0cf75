"""A TCP proxy whose connections a test can drop, delay or refuse: network faults between a
client and any flymq server (``flymq_server``, a ``ServeProcess``, an upstream broker).

    with FaultyProxy("127.0.0.1:9092") as proxy:
        client = FlyMQClient(proxy.address)
        proxy.delay(200)      # every chunk of bytes, both ways, 200 ms late
        proxy.drop()          # every open connection is cut (the client reconnects)
        proxy.refuse()        # new connections are closed at once; heal() undoes all
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

__all__ = ["FaultyProxy"]

CHUNK = 65536


class FaultyProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target`` ("host:port") from a thread of its own."""

    def __init__(self, target: str, host: str = "127.0.0.1", port: int = 0):
        target_host, _, target_port = target.rpartition(":")
        self.target = (target_host or "127.0.0.1", int(target_port))
        self._delay_s = 0.0
        self._refusing = False
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        """How many connections were accepted (and forwarded) so far."""
        self._error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(host, port),
                                        name="flymq-faulty-proxy", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._error is not None:
            self._thread.join()
            self._loop.close()
            raise self._error

    # --- faults -------------------------------------------------------------------------------
    def delay(self, ms: float) -> None:
        """Hold every chunk of bytes ``ms`` milliseconds before passing it on (0: none)."""
        self._delay_s = ms / 1000.0

    def drop(self) -> None:
        """Cut every open connection now (both sides see it closed)."""
        self._call(self._drop_all)

    def refuse(self) -> None:
        """Close every new connection at once, as a server that went away; open ones stay."""
        self._refusing = True

    def heal(self) -> None:
        """No delay, accept connections again."""
        self._delay_s = 0.0
        self._refusing = False

    @property
    def address(self) -> str:
        """``"host:port"`` to connect to instead of the target."""
        return "%s:%d" % self._address

    # --- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self._shutdown)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> "FaultyProxy":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the loop -----------------------------------------------------------------------------
    def _run(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, host, port))
            self._address = self._server.sockets[0].getsockname()[:2]
        except OSError as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    def _call(self, fn: Any) -> None:
        """Run ``fn`` (a coroutine function) in the proxy's loop and wait for it."""
        asyncio.run_coroutine_threadsafe(fn(), self._loop).result(10)

    async def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _shutdown(self) -> None:
        self._server.close()
        await self._drop_all()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:  # connection handlers still waiting on a socket
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._server.wait_closed()
        self._loop.call_soon(self._loop.stop)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._forward(reader, writer)
        except asyncio.CancelledError:  # the proxy closes: end quietly (asyncio logs a
            writer.transport.abort()     # cancelled connection handler as an error)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer),
                             return_exceptions=True)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(CHUNK):
                if self._delay_s:
                    await asyncio.sleep(self._delay_s)
                writer.write(data)
                await writer.drain()
        finally:  # one side ended: end the other, so the pair never half-hangs
            writer.transport.abort()
