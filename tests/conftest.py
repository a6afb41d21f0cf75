"""Shared fixtures: clients parametrised over both transports (the broker fixtures come from
the flymq pytest plugin, registered by the package's pytest11 entry point)."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from flymq import FlyMQClient
from flymq.testing import client_for

@pytest.fixture(params=["local", "tcp"])
def endpoint(request: pytest.FixtureRequest, flymq_broker) -> object:
    """What reaches the test broker: the Broker itself ("local") or "host:port" ("tcp")."""
    if request.param == "local":
        return flymq_broker
    return request.getfixturevalue("flymq_server")


@pytest.fixture
def new_client(endpoint) -> Iterator[Callable[..., FlyMQClient]]:
    """Makes clients of the test broker (closed at teardown); keywords go to FlyMQClient."""
    made: list[FlyMQClient] = []

    def make(**kwargs) -> FlyMQClient:
        client = client_for(endpoint, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(new_client) -> FlyMQClient:
    return new_client()
