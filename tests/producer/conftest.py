"""Helpers for the producer tests: transport wrappers that fail or block on demand."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import pytest

from flymq import FlyMQClient
from flymq.errors import ConnectionClosedError


class WrappedTransport:
    """Delegates to a real transport; counts ``append_batch`` calls (the producers' one way
    to the broker) and can fail or block."""

    def __init__(self, inner: Any, *, fail_first: int = 0,
                 error: Callable[[], BaseException] = lambda: ConnectionClosedError()):
        self.inner = inner
        self.fail_first = fail_first
        self.error = error
        self.calls: list[int] = []           # record count of each append_batch call
        self.gate = threading.Event()        # cleared by block(): append_batch waits on it
        self.gate.set()
        self.entered = threading.Event()     # set when an append_batch call is running

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def block(self) -> None:
        self.gate.clear()

    def append_batch(self, topic, records, **options):
        self.calls.append(len(records))
        self.entered.set()
        assert self.gate.wait(5), "test never released the transport"
        if len(self.calls) <= self.fail_first:
            raise self.error()
        return self.inner.append_batch(topic, records, **options)

    def close(self) -> None:  # the inner transport belongs to the fixture's client
        pass


@pytest.fixture
def wrapped(client) -> Iterator[Callable[..., tuple[FlyMQClient, WrappedTransport]]]:
    """Makes ``(client, wrapper)`` pairs whose transport is ``client``'s, wrapped."""
    made: list[FlyMQClient] = []

    def make(**kwargs: Any) -> tuple[FlyMQClient, WrappedTransport]:
        wrapper = WrappedTransport(client._transport, **kwargs)
        made.append(FlyMQClient(transport=wrapper))
        return made[-1], wrapper

    yield make
    for c in made:
        c.close()


def read_all(client: FlyMQClient, topic: str, partition: int = 0) -> list[bytes]:
    """Every value of one partition, in offset order."""
    out: list[bytes] = []
    while True:
        batch = client.fetch(topic, partition, len(out), max_messages=1000)
        if not batch.messages:
            return out
        out.extend(m.data for m in batch.messages)
