"""pytest plugin and helpers for testing code that uses flymq.

Installing flymq registers this plugin with pytest (a ``pytest11`` entry point), so the
fixtures are available in every test session without any conftest line. Fixtures:

- ``flymq_clock``: a :class:`~flymq.clock.ManualClock`; move time with ``advance(ms)``.
- ``flymq_broker``: a fresh embedded :class:`~flymq.broker.Broker` in ``tmp_path`` on that clock.
- ``flymq_client``: a :class:`~flymq.FlyMQClient` bound to ``flymq_broker``.
- ``flymq_server``: ``flymq_broker`` served over TCP on an ephemeral port; yields ``"host:port"``.

:func:`redirect` points a hard-coded address at a test broker, so application code that
says ``FlyMQClient("localhost:9092")`` can run unchanged in tests::

    with flymq.testing.redirect("localhost:9092", flymq_broker):
        app.main()
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from flymq.client.client import ADDRESS_REDIRECTS, FlyMQClient
from flymq.clock import ManualClock

if TYPE_CHECKING:
    from flymq.broker import Broker

__all__ = ["redirect"]


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


@pytest.fixture
def flymq_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def flymq_broker(tmp_path: Path, flymq_clock: ManualClock) -> Iterator["Broker"]:
    from flymq.broker import Broker

    with Broker(tmp_path / "flymq-data", clock=flymq_clock) as broker:
        yield broker


@pytest.fixture
def flymq_client(flymq_broker: "Broker") -> Iterator[FlyMQClient]:
    with FlyMQClient(broker=flymq_broker) as client:
        yield client


@pytest.fixture
def flymq_server(flymq_broker: "Broker") -> Iterator[str]:
    from flymq.broker.server import Server
    from flymq.broker.server_config import ServerConfig

    server = Server(flymq_broker, ServerConfig(port=0))
    host, port = server.start_in_thread()
    try:
        yield f"{host}:{port}"
    finally:
        server.stop_in_thread()
