"""Redis Streams peer: a redis-server child on 127.0.0.1, XADD via the ``redis`` client."""

from __future__ import annotations

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

# flymq fsync policy -> Redis append-only-file fsync policy
APPENDFSYNC = {"never": "no", "interval": "everysec", "always": "always"}
FIELD = b"v"
READ_CHUNK = 10_000


def _redis_module() -> Any:
    return import_peer("redis", "redis")


@dataclass
class RedisStreams(StreamSystem):
    """One Redis stream per topic; partitions are ignored (a stream is one ordered log)."""

    port: int
    name: str = "redis"

    def _conn(self) -> Any:
        return _redis_module().Redis(host=HOST, port=self.port)

    def create(self, stream: str, partitions: int) -> None:
        self._conn().delete(stream)

    def sender(self, stream: str, partitions: int) -> Sender:
        return _RedisSender(self._conn(), stream)

    def read_back(self, stream: str, partitions: int) -> Checksum:
        conn, total, start = self._conn(), Checksum(), "-"
        while True:
            entries = conn.xrange(stream, min=start, max="+", count=READ_CHUNK)
            if not entries:
                return total
            total.add_all(fields[FIELD] for _, fields in entries)
            start = b"(" + entries[-1][0]


class _RedisSender(Sender):
    def __init__(self, conn: Any, stream: str) -> None:
        self.conn, self.stream = conn, stream

    def send_each(self, payloads: Sequence[bytes]) -> array:
        lat = array("q")
        xadd, stream, clock = self.conn.xadd, self.stream, time.perf_counter_ns
        for p in payloads:
            t0 = clock()
            xadd(stream, {FIELD: p})
            lat.append(clock() - t0)
        return lat

    def send_batched(self, payloads: Sequence[bytes], batch: int) -> None:
        for i in range(0, len(payloads), batch):
            pipe = self.conn.pipeline(transaction=False)
            for p in payloads[i:i + batch]:
                pipe.xadd(self.stream, {FIELD: p})
            pipe.execute()

    def close(self) -> None:
        self.conn.close()


@contextmanager
def redis_server(workdir: Path, fsync: str) -> Iterator[RedisStreams]:
    """redis-server with an append-only file fsynced like flymq's policy; killed on exit."""
    binary = find_executable("redis-server")
    if binary is None:
        raise Unavailable("redis-server not found (apt-get install redis-server)")
    _redis_module()
    port = free_port()
    child = Child([binary, "--port", str(port), "--bind", HOST, "--dir", str(workdir),
                   "--appendonly", "yes", "--appendfsync", APPENDFSYNC[fsync], "--save", "",
                   "--protected-mode", "no"], workdir / "redis.log")
    with child as proc:
        try:
            wait_for_port(port, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise Unavailable(f"redis-server did not start: {exc}: {child.log_tail(5)}") from None
        yield RedisStreams(port)
