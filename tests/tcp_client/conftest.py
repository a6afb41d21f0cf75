from __future__ import annotations

from typing import Iterator

import pytest

from flymq.client.config import ClientConfig
from flymq.client.tcp import TcpTransport
from .fake_server import FakeServer


@pytest.fixture
def fast_config() -> ClientConfig:
    return ClientConfig(connect_timeout_ms=500, request_timeout_ms=500, max_retries=2,
                        retry_delay_ms=0)


@pytest.fixture
def servers() -> Iterator[list[FakeServer]]:
    made: list[FakeServer] = []
    yield made
    for s in made:
        s.close()


@pytest.fixture
def make(servers: list[FakeServer], fast_config: ClientConfig):
    """make(handler, **server_kw) -> (server, transport)."""
    transports: list[TcpTransport] = []

    def build(handler, *, config: ClientConfig | None = None, **kw):
        srv = FakeServer(handler, **kw)
        servers.append(srv)
        t = TcpTransport([srv.address], config or fast_config)
        transports.append(t)
        return srv, t
    yield build
    for t in transports:
        t.close()
