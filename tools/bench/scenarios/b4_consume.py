"""B4: TCP batch produce and batch fetch on one connection; end-to-end latency at fixed load."""

from __future__ import annotations

import struct
import threading
import time
from typing import Callable

from tools.bench.flymq_target import (FETCH_MAX_MESSAGES, batch_producer, checksum_chunks,
                                      flymq_server, read_all, tcp_client)
from tools.bench.procs import TempDir
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat, Target
from tools.bench.stats import percentiles, throughput
from tools.bench.verify import Checksum, VerificationError, expect_same, make_payloads

SIZE = 100
BATCH = 1_000
RATE = 2_000                 # offered load of the end-to-end test, msgs/s
STAMP = struct.Struct("<qq")  # send time (perf_counter_ns), sequence


def produce_then_fetch(address: tuple[str, int], topic: str, payloads: list[bytes]
                       ) -> dict[str, dict[str, float]]:
    client = tcp_client(address)
    try:
        client.create_topic(topic, 1)
        produce_batch = batch_producer(client)
        t0 = time.perf_counter()
        for i in range(0, len(payloads), BATCH):
            produce_batch(topic, [(None, p, 0) for p in payloads[i:i + BATCH]])
        t1 = time.perf_counter()
        chunks = read_all(client.fetch, topic, 1)
        t2 = time.perf_counter()
    finally:
        client.close()
    expect_same(f"B4 {topic}", Checksum.of(payloads), checksum_chunks(chunks))
    n = len(payloads)
    return {"batch produce": throughput(n, SIZE, t1 - t0),
            "batch fetch": throughput(n, SIZE, t2 - t1)}


def end_to_end(address: tuple[str, int], topic: str, seconds: float) -> dict[str, float]:
    """Produce at RATE msgs/s while a long-polling consumer receives; latency percentiles."""
    total = int(RATE * seconds)
    producer, consumer = tcp_client(address), tcp_client(address)
    producer.create_topic(topic, 1)
    latencies: list[int] = []
    seen: set[int] = set()

    def consume() -> None:
        offset, deadline = 0, time.monotonic() + seconds + 30
        while len(latencies) < total and time.monotonic() < deadline:
            got = consumer.fetch(topic, 0, offset, FETCH_MAX_MESSAGES, max_wait_ms=500)
            now = time.perf_counter_ns()
            for m in got.messages:
                sent, seq = STAMP.unpack_from(m.data)
                latencies.append(now - sent)
                seen.add(seq)
            offset = got.next_offset if got.messages else offset

    try:
        return paced_latency(producer, topic, total, RATE, consume, latencies, seen)
    finally:
        producer.close()
        consumer.close()


def paced_latency(producer: object, topic: str, total: int, rate: int,
                  consume: Callable[[], None], latencies: list[int], seen: set[int]
                  ) -> dict[str, float]:
    """Produce ``total`` stamped messages at ``rate`` per second while ``consume`` (in a
    thread) records each one's latency and sequence; p50/p99, verified complete."""
    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    filler = b"." * (SIZE - STAMP.size)
    start = time.perf_counter_ns()
    for seq in range(total):
        due = start + seq * 1_000_000_000 // rate
        while (now := time.perf_counter_ns()) < due:
            time.sleep(min((due - now) / 1e9, 0.001))
        producer.produce(topic, STAMP.pack(time.perf_counter_ns(), seq) + filler)
    reader.join(60)
    if len(latencies) != total or len(seen) != total:
        raise VerificationError(f"end-to-end: produced {total}, received {len(latencies)} "
                                f"({len(seen)} distinct)")
    return {f"{k} (at {rate:,} msgs/s)": v for k, v in percentiles(latencies, (50, 99)).items()}


@scenario("b4", "TCP batch fetch and batch produce; end-to-end latency", lambda ctx: 2,
          cost=("1 min", "10 s"))
def b4(ctx: Context) -> None:
    count = ctx.count(1_000_000, 20_000)
    payloads = make_payloads(4, count, SIZE)
    fsync = ctx.fsync_modes[-1]
    with TempDir("b4") as tmp, flymq_server(tmp, fsync, ctx.server) as (address, _):
        produce_then_fetch(address, "b4-warm", payloads[:10 * BATCH])
        rounds = [produce_then_fetch(address, f"b4-{i}", payloads) for i in range(ctx.rounds)]
        ctx.progress.step("batch produce / fetch")
        table = f"fsync={fsync}, one connection, {count:,} × {SIZE} B"
        ctx.figure(table, f"batch produce ({BATCH:,} per request)",
                   Stat.collect([r["batch produce"] for r in rounds]),
                   [Target("msgs/s", ">=", 200_000, "issue 4 (B4)")])
        ctx.figure(table, f"batch fetch (up to {FETCH_MAX_MESSAGES:,} per request)",
                   Stat.collect([r["batch fetch"] for r in rounds]),
                   [Target("msgs/s", ">=", 500_000, "issue 4 (B4)")])
        e2e = [end_to_end(address, f"b4-e2e-{i}", ctx.count(5, 1)) for i in range(ctx.rounds)]
        ctx.figure(f"fsync={fsync}, produce → long-polling consumer", "end-to-end latency",
                   Stat.collect(e2e))
        ctx.progress.step("end-to-end latency")
