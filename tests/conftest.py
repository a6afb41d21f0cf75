"""Shared fixtures: clients parametrised over both transports, and a disk whose fsync can be
broken (the broker fixtures come from the flymq pytest plugin, registered by the package's
pytest11 entry point)."""

from __future__ import annotations

import errno
import os
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


class FsyncSwitch:
    """Makes every os.fsync fail with EIO between ``break_disk()`` and ``repair()``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch, self.real = monkeypatch, os.fsync

    def break_disk(self) -> None:
        def failing(fd: int) -> None:
            raise OSError(errno.EIO, "Input/output error")
        self.monkeypatch.setattr(os, "fsync", failing)

    def repair(self) -> None:
        self.monkeypatch.setattr(os, "fsync", self.real)


@pytest.fixture
def disk(monkeypatch) -> FsyncSwitch:
    return FsyncSwitch(monkeypatch)
