"""Helpers for testing code that uses flymq; none of them needs pytest.

The pytest fixtures (``flymq_broker``, ``flymq_client``, ``flymq_server``, ``flymq_faults``,
``flymq_proxy``, ...) are in :mod:`flymq.testing.plugin`, which pytest loads by itself once
flymq is installed. This package holds what works under any test runner or none:

:func:`start_server` serves a broker over TCP for a ``with`` block, with any server settings
(the fixtures' way too, so a test that needs other settings builds its server the same way).

:class:`ServeProcess` runs a real ``flymq serve`` subprocess (for tests that kill it, restart it
or check its command line) and parses its readiness line.

:func:`redirect` points a hard-coded address at a test broker, so application code that
says ``FlyMQClient("localhost:9092")`` can run unchanged in tests::

    with flymq.testing.redirect("localhost:9092", flymq_broker):
        app.main()

:class:`~flymq.testing.faults.Faults` injects failures into a broker (the next N produces or
fetches fail, a partition pauses, the disk fills up); ``Broker.crash()`` and
``Broker.restart()`` simulate a kill -9 and a restart from disk;
:class:`~flymq.testing.proxy.FaultyProxy` drops, delays or refuses TCP connections.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from flymq.client.client import ADDRESS_REDIRECTS, FlyMQClient

if TYPE_CHECKING:
    from flymq.broker import Broker
    from flymq.server import Server
    from flymq.testing.faults import Faults
    from flymq.testing.proxy import FaultyProxy


def __getattr__(name: str) -> Any:
    """``Faults`` and ``FaultyProxy`` load on first use (the proxy brings asyncio)."""
    if name == "Faults":
        from flymq.testing.faults import Faults
        return Faults
    if name == "FaultyProxy":
        from flymq.testing.proxy import FaultyProxy
        return FaultyProxy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["redirect", "client_for", "start_server", "ServeProcess", "serve_env", "READY",
           "Faults", "FaultyProxy"]

#: The directory that holds this ``flymq`` package, so subprocesses import the same code.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
#: Parses the line ``flymq serve`` prints when it accepts connections (``cli.READY_LINE``).
READY = re.compile(r"^flymq listening on (?P<host>[^ ]+):(?P<port>\d+) "
                   r"\(data: (?P<data>.*), fsync: (?P<fsync>\w+)\)$")


@contextlib.contextmanager
def redirect(address: str, target: "Broker | str") -> Iterator[None]:
    """While active, new clients for ``address`` reach ``target`` (a Broker or "host:port")."""
    previous = ADDRESS_REDIRECTS.get(address)
    ADDRESS_REDIRECTS[address] = target
    try:
        yield
    finally:
        if previous is None:
            del ADDRESS_REDIRECTS[address]
        else:
            ADDRESS_REDIRECTS[address] = previous


def client_for(target: "Broker | str", **kwargs) -> FlyMQClient:
    """A client of ``target``: a Broker (local transport) or ``"host:port"`` (TCP)."""
    if isinstance(target, str):
        return FlyMQClient(target, **kwargs)
    return FlyMQClient(broker=target, **kwargs)


@contextlib.contextmanager
def start_server(broker: "Broker", **config: Any) -> Iterator["Server"]:
    """``broker`` served over TCP from a thread of its own until the ``with`` block ends.

    ``config`` holds :class:`~flymq.server.ServerConfig` fields; the port defaults to 0, a free
    one (``server.address`` is the bound ``(host, port)``).
    """
    from flymq.server import Server, ServerConfig

    server = Server(broker, ServerConfig(**{"port": 0, **config}))
    server.start_in_thread()
    try:
        yield server
    finally:
        server.stop_in_thread()


def serve_env(**extra: str) -> dict[str, str]:
    """This process's environment without ``FLYMQ_*`` settings, importing this flymq."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYMQ_")}
    env["PYTHONPATH"] = str(PACKAGE_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class ServeProcess:
    """``python -m flymq serve ARGS...``, started and waited for until it accepts connections.

    :attr:`match` holds the parsed readiness line, :attr:`address` the ``(host, port)`` and
    :attr:`ready_after` the seconds from start to ready. Use it as a context manager, or call
    :meth:`terminate` (graceful, SIGTERM) or :meth:`kill` (SIGKILL), then :meth:`close`.
    """

    def __init__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 20.0):
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "flymq", "serve", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env or serve_env(), cwd=PACKAGE_ROOT, text=True)
        self.line = self._readline(timeout)
        self.ready_after = time.monotonic() - self.started
        match = READY.match(self.line)
        if not match:
            self.kill()
            raise RuntimeError(f"not a readiness line: {self.line!r}; stderr: {self._stderr()}")
        self.match = match
        self.address = (match["host"], int(match["port"]))

    @property
    def bootstrap(self) -> str:
        """``"host:port"`` for ``FlyMQClient``."""
        return "%s:%d" % self.address

    def _readline(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.05)
            if ready:
                line = self.proc.stdout.readline()
                if line:
                    return line.rstrip("\n")
                break
        self.proc.kill()
        raise RuntimeError(f"flymq serve printed no readiness line; stderr: {self._stderr()}")

    def _stderr(self) -> str:
        try:
            return self.proc.communicate(timeout=5)[1]
        except subprocess.TimeoutExpired:
            return "<no stderr>"

    def terminate(self, timeout: float = 10.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()

    def __enter__(self) -> "ServeProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.poll() is None:
            self.terminate()
        self.close()
