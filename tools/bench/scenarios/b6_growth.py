"""B6: throughput and RSS as partitions, connections and retained messages grow."""

from __future__ import annotations

import random
import time

from tools.bench.flymq_target import (FlyMQTcp, checksum_chunks, flymq_server, need, read_all,
                                      tcp_client)
from tools.bench.machine import rss_mib
from tools.bench.procs import TempDir, run_isolated
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat
from tools.bench.scenarios.delays import pending_delays_curve
from tools.bench.verify import Checksum, VerificationError, expect_same, make_payload, \
    make_payloads

SIZE = 100


def partitions_point(partitions: int, count: int, fsync: str) -> dict[str, float]:
    """In a fresh process: produce round-robin over ``partitions``; msgs/s and RSS.

    A partition's files are created by its first write, which is timed on its own (one
    record per partition) and reported per partition, so that the throughput column shows
    the steady state rather than file creation.
    """
    broker_cls, config_cls = need("flymq.broker", "Broker"), need("flymq.broker.config",
                                                                  "BrokerConfig")
    firsts = make_payloads(7, partitions, SIZE)
    payloads = make_payloads(6, count, SIZE)
    with TempDir("b6p") as tmp, broker_cls(tmp, config_cls(fsync=fsync)) as broker:
        broker.create_topic("g", partitions)
        produce = broker.produce
        t0 = time.perf_counter()
        for i, p in enumerate(firsts):
            produce("g", p, partition=i)
        t1 = time.perf_counter()
        for i, p in enumerate(payloads):
            produce("g", p, partition=i % partitions)
        t2 = time.perf_counter()
        expect_same(f"{partitions} partitions", Checksum.of(firsts + payloads),
                    checksum_chunks(read_all(broker.fetch, "g", partitions)))
        return {"msgs/s": count / (t2 - t1), "first write ms": (t1 - t0) / partitions * 1000,
                "RSS MiB": rss_mib()}


def retained_point(retained: int, probes: int, fsync: str) -> dict[str, float]:
    """In a fresh process: fill ``retained`` messages, then time produce and random fetch."""
    broker_cls, config_cls = need("flymq.broker", "Broker"), need("flymq.broker.config",
                                                                  "BrokerConfig")
    with TempDir("b6r") as tmp, broker_cls(tmp, config_cls(fsync=fsync)) as broker:
        broker.create_topic("g", 1)
        for start in range(0, retained, 1000):
            broker.produce_batch("g", [(None, make_payload(6, i, SIZE), 0)
                                       for i in range(start, min(start + 1000, retained))])
        extra = make_payloads(6, probes, SIZE, start=retained)
        t0 = time.perf_counter()
        for p in extra:
            broker.produce("g", p)
        produce_s = time.perf_counter() - t0
        offsets = random.Random(6).sample(range(retained + probes), probes)
        t0 = time.perf_counter()
        got = [broker.fetch("g", 0, o, 1).messages[0] for o in offsets]
        fetch_s = time.perf_counter() - t0
        bad = [m.offset for m in got if m.data != make_payload(6, m.offset, SIZE)]
        if bad or broker.offsets("g", 0)[1] != retained + probes:
            raise VerificationError(f"{retained} retained: wrong data at offsets {bad[:5]}")
        return {"msgs/s": probes / produce_s, "random fetch µs": fetch_s / probes * 1e6,
                "RSS MiB": rss_mib()}


def connections_point(ctx: Context, connections: int, count: int, fsync: str
                      ) -> dict[str, float]:
    """A fresh server; ``connections`` clients produce round-robin from one thread."""
    payloads = make_payloads(7, count, SIZE)
    with TempDir("b6c") as tmp, flymq_server(tmp, fsync, ctx.server) as (address, pid):
        FlyMQTcp(address).create("g", 1)
        clients = [tcp_client(address) for _ in range(connections)]
        try:
            t0 = time.perf_counter()
            for i, p in enumerate(payloads):
                clients[i % connections].produce("g", p)
            seconds = time.perf_counter() - t0
            rss = rss_mib(pid)
        finally:
            for c in clients:
                c.close()
        expect_same(f"{connections} connections", Checksum.of(payloads),
                    FlyMQTcp(address).read_back("g", 1))
    return {"msgs/s": count / seconds, "server RSS MiB": rss}


def _curve(ctx: Context, table: str, label: str, points: list[int], measure) -> None:
    for n in points:
        ctx.figure(table, f"{n:,} {label}", Stat.collect([measure(n)]))
        ctx.progress.step(f"{table}: {n:,}")


@scenario("b6", "growth: partitions, connections, retained messages (one round per point)",
          lambda ctx: ctx.count(15, 10),
          cost=("3 min", "40 s"))
def b6(ctx: Context) -> None:
    fsync = ctx.fsync_modes[-1]
    count = ctx.count(20_000, 2_000)
    _curve(ctx, f"partitions (fsync={fsync}, {count:,} single produces after a first write to "
                f"each)", "partitions",
           ctx.count([1, 10, 100, 1000], [1, 10, 100]),
           lambda n: run_isolated(partitions_point, n, count, fsync))
    _curve(ctx, f"connections (fsync={fsync}, {count:,} produces round-robin)", "connections",
           ctx.count([1, 10, 50, 200], [1, 10, 50]),
           lambda n: connections_point(ctx, n, count, fsync))
    _curve(ctx, f"retained messages (fsync={fsync}, 2,000 probes)", "retained",
           ctx.count([10_000, 100_000, 1_000_000], [1_000, 10_000]),
           lambda n: run_isolated(retained_point, n, 2_000, fsync))
    pending_delays_curve(ctx, fsync, ctx.count([100, 1_000, 10_000, 100_000], [100, 1_000]))
