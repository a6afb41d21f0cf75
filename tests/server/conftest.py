"""Fixtures: the plugin's broker behind servers on ephemeral ports, on both event loops."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import pytest

from flymq.broker.broker import Broker
from flymq.server import Server
from flymq.testing import start_server


@pytest.fixture
def broker(flymq_broker: Broker) -> Broker:
    return flymq_broker


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_name(request) -> str:
    """Every server test runs on both event loops ``ServerConfig.event_loop`` offers."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    return request.param


@pytest.fixture
def make_server(broker, event_loop_name) -> Iterator[Callable[..., Server]]:
    """Starts servers of ``broker`` with the given ServerConfig fields (on this test's event
    loop unless ``event_loop`` is given); all stop at teardown."""
    with contextlib.ExitStack() as servers:
        yield lambda **config: servers.enter_context(
            start_server(broker, **{"event_loop": event_loop_name, **config}))


@pytest.fixture
def server(make_server) -> Server:
    return make_server()
