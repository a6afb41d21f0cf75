"""Redis Streams peer: a redis-server child on 127.0.0.1, XADD via the ``redis`` client with
hiredis; ``redis-benchmark`` sending the same XADD is its native ceiling."""

from __future__ import annotations

import csv
import io
import subprocess
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
from tools.bench.stats import throughput
from tools.bench.verify import Checksum, VerificationError

# flymq fsync policy -> Redis append-only-file fsync policy
APPENDFSYNC = {"never": "no", "interval": "everysec", "always": "always"}
FIELD = b"v"
READ_CHUNK = 10_000
NATIVE_TIMEOUT_S = 600.0


def _redis_module() -> Any:
    """redis-py with hiredis, the C reply parser Redis users install for speed: without it
    the rows would measure redis-py's pure-Python parser, not Redis."""
    redis = import_peer("redis", "redis")
    if not import_peer("redis.utils", "redis").HIREDIS_AVAILABLE:
        raise Unavailable("hiredis not installed (pip install hiredis): without it redis-py "
                          "parses replies in pure Python, which would measure the client")
    return redis


@dataclass
class RedisStreams(StreamSystem):
    """One Redis stream per topic; partitions are ignored (a stream is one ordered log)."""

    port: int
    name: str = "redis"
    native_tool = "redis-benchmark"

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

    def native(self, stream: str, count: int, size: int, connections: int, batch: int
               ) -> dict[str, float]:
        """redis-benchmark (C, hiredis) sending XADD of one ``size``-byte field."""
        binary = find_executable("redis-benchmark")
        if binary is None:
            raise Unavailable("redis-benchmark not found (apt-get install redis-tools)")
        self.create(stream, 1)
        per_trip = batch or 1
        count = -(-count // per_trip) * per_trip    # it sends whole pipelines only
        argv = [binary, "-h", HOST, "-p", str(self.port), "-n", str(count),
                "-c", str(connections), "-P", str(per_trip), "--csv",
                "XADD", stream, "*", FIELD.decode(), "x" * size]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=NATIVE_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"redis-benchmark exited with code {done.returncode}: "
                               f"{done.stderr.strip()[-500:]}")
        stored = self._conn().xlen(stream)
        if stored != count:
            raise VerificationError(f"redis-benchmark sent {count} XADD but the stream holds "
                                    f"{stored}")
        return native_metrics(done.stdout, count, size, batch)


def native_metrics(csv_text: str, count: int, size: int, batch: int) -> dict[str, float]:
    """msgs/s and MB/s from redis-benchmark's ``--csv`` output (one test), plus its latency
    percentiles when each request carried one message (pipelined, they time whole batches)."""
    row = list(csv.DictReader(io.StringIO(csv_text)))[-1]
    rate = float(row["rps"])
    metrics = throughput(count, size, count / rate)
    if not batch:
        metrics.update((f"p{p} ms", float(row[f"p{p}_latency_ms"])) for p in (50, 95, 99))
    return metrics


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
