"""Interop fixtures: raw-socket stand-ins for the upstream SDKs against our Server."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from .sdkwire import GoSDK, PyFlyMQ


@pytest.fixture
def connect(flymq_server: str) -> Iterator[Callable[..., object]]:
    """connect("py") / connect("go"): a new SDK-like connection (closed at teardown)."""
    made: list = []

    def make(kind: str = "py"):
        conn = PyFlyMQ(flymq_server) if kind == "py" else GoSDK(flymq_server)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


@pytest.fixture
def py(connect) -> PyFlyMQ:
    return connect("py")


@pytest.fixture
def go(connect) -> GoSDK:
    return connect("go")
