"""flymq as a system under test: embedded broker, TCP server (thread or process), clients.

The only module of the benchmark that knows flymq's APIs (docs/architecture.md); a missing
component raises :class:`Unavailable` so its rows are reported as skipped, not dropped.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tools.bench.peers import EmbeddedQueue, Sender, StreamSystem
from tools.bench.procs import HOST, Child, Unavailable, free_port, wait_for_port
from tools.bench.verify import Checksum

FETCH_MAX_MESSAGES = 10_000
FETCH_MAX_BYTES = 16 * 1024 * 1024


def need(module: str, name: str) -> Any:
    """``module.name``, or :class:`Unavailable` saying which flymq part is not there yet."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise Unavailable(f"{module}.{name} is not available yet ({exc})") from None


def broker_config(fsync: str, **extra: Any) -> Any:
    return need("flymq.broker.config", "BrokerConfig")(fsync=fsync, **extra)


def open_broker(data_dir: Path, fsync: str, **extra: Any) -> Any:
    """An embedded ``Broker`` on ``data_dir`` with the given fsync policy."""
    return need("flymq.broker", "Broker")(data_dir, broker_config(fsync, **extra))


def tcp_client(address: tuple[str, int]) -> Any:
    return need("flymq", "FlyMQClient")(f"{address[0]}:{address[1]}")


def batch_producer(client: Any) -> Any:
    """The client's ``produce_batch(topic, [(key, value, partition)])``."""
    public = getattr(client, "produce_batch", None)
    transport = getattr(client, "_transport", None) or getattr(client, "_conn", None)
    found = public or getattr(transport, "produce_batch", None)
    if found is None:
        raise Unavailable("FlyMQClient has no produce_batch yet")
    return found


def read_all(fetch: Any, topic: str, partitions: int) -> list[list[bytes]]:
    """Every payload of every partition, as one list per fetch.

    Each fetch's values are taken as it arrives and its message objects are dropped, as a
    consumer does and as every peer's ``drain`` does with its own records; keeping a million
    message objects alive until verification would time the garbage collector walking them,
    not the fetch.
    """
    chunks = []
    for p in range(partitions):
        offset = 0
        while True:
            result = fetch(topic, p, offset, FETCH_MAX_MESSAGES)
            if not result.messages:
                break
            chunks.append([m.data for m in result.messages])
            offset = result.next_offset
    return chunks


def checksum_chunks(chunks: list[list[bytes]]) -> Checksum:
    total = Checksum()
    for values in chunks:
        total.add_all(values)
    return total


@dataclass
class FlyMQTcp(StreamSystem):
    """flymq over TCP, one ``FlyMQClient`` per sender; keyless round-robin produce."""

    address: tuple[str, int]
    name: str = "flymq"

    def create(self, stream: str, partitions: int) -> None:
        client = tcp_client(self.address)
        try:
            client.create_topic(stream, partitions)
        finally:
            client.close()

    def sender(self, stream: str, partitions: int) -> Sender:
        return _FlyMQSender(tcp_client(self.address), stream, partitions)

    def read_back(self, stream: str, partitions: int) -> Checksum:
        client = tcp_client(self.address)
        try:
            return checksum_chunks(read_all(client.fetch, stream, partitions))
        finally:
            client.close()


class _FlyMQSender(Sender):
    def __init__(self, client: Any, topic: str, partitions: int) -> None:
        self.client, self.topic, self.partitions = client, topic, partitions

    def send_each(self, payloads: Sequence[bytes]) -> array:
        lat = array("q")
        produce, topic, clock = self.client.produce, self.topic, time.perf_counter_ns
        for p in payloads:
            t0 = clock()
            produce(topic, p)
            lat.append(clock() - t0)
        return lat

    def send_batched(self, payloads: Sequence[bytes], batch: int) -> None:
        produce_batch, parts = batch_producer(self.client), self.partitions
        for i in range(0, len(payloads), batch):
            produce_batch(self.topic, [(None, p, (i + j) % parts)
                                       for j, p in enumerate(payloads[i:i + batch])])

    def close(self) -> None:
        self.client.close()


@contextmanager
def flymq_server(data_dir: Path, fsync: str, mode: str) -> Iterator[tuple[tuple[str, int], int]]:
    """A flymq TCP server on 127.0.0.1; yields (address, server pid).

    ``mode`` "process" runs ``python -m flymq serve`` (killed on exit), "thread" runs
    ``Server.start_in_thread`` in this process.
    """
    if mode == "thread":
        server_cls = need("flymq.server", "Server")
        config = need("flymq.server", "ServerConfig")(host=HOST, port=0)
        with open_broker(data_dir, fsync) as broker:
            server = server_cls(broker, config)
            address = server.start_in_thread()
            try:
                yield (address[0], address[1]), os.getpid()
            finally:
                server.stop_in_thread()
        return
    need("flymq.server", "Server")
    port = free_port()
    child = Child([sys.executable, "-m", "flymq", "serve", "--host", HOST, "--port", str(port),
                   "--data-dir", str(data_dir / "data"), "--fsync", fsync],
                  data_dir / "server.log")
    with child as proc:
        try:
            wait_for_port(port, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"flymq serve did not start: {exc}\n{child.log_tail()}") from None
        yield (HOST, port), proc.pid


class FlyMQEmbedded(EmbeddedQueue):
    """An embedded Broker with one single-partition topic (B3)."""

    name = "flymq"
    can_batch = True

    def __init__(self, directory: Path, fsync: str) -> None:
        self.broker = open_broker(directory, fsync)
        self.topic = "b3"
        self.broker.create_topic(self.topic, 1)

    def put_each(self, payloads: Sequence[bytes]) -> None:
        produce, topic = self.broker.client().produce, self.topic
        for p in payloads:
            produce(topic, p)

    def put_batched(self, payloads: Sequence[bytes], batch: int) -> None:
        produce_batch, topic = self.broker.produce_batch, self.topic
        for i in range(0, len(payloads), batch):
            produce_batch(topic, [(None, p, 0) for p in payloads[i:i + batch]])

    def drain(self) -> list:
        return read_all(partial(self.broker.fetch, max_bytes=FETCH_MAX_BYTES), self.topic, 1)

    def close(self) -> None:
        self.broker.close()
