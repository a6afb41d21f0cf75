"""Fixtures: a Broker in a temporary directory behind a Server on an ephemeral port."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from flymq.broker.broker import Broker
from flymq.server import Server, ServerConfig


@pytest.fixture
def broker(tmp_path) -> Iterator[Broker]:
    with Broker(tmp_path / "data") as b:
        yield b


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_name(request) -> str:
    """Every server test runs on both event loops ``ServerConfig.event_loop`` offers."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    return request.param


@pytest.fixture
def make_server(broker, event_loop_name) -> Iterator[Callable[..., Server]]:
    """Start a server on 127.0.0.1:0 with the given ServerConfig fields."""
    servers: list[Server] = []

    def start(**config) -> Server:
        config.setdefault("event_loop", event_loop_name)
        server = Server(broker, ServerConfig(port=0, **config))
        server.start_in_thread()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop_in_thread()


@pytest.fixture
def server(make_server) -> Server:
    return make_server()
