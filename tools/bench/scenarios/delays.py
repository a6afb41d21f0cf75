"""Delayed delivery and TTL (issue 13): B6's pending-delays row, release lag, TTL throughput.

- pending delays: RSS growth with 10^2 .. 10^6 pending delayed messages, and the time a
  broker holding them takes to reopen (each point in a fresh process);
- release lag: messages due at 10,000 per second on the system clock; lag = the delivered
  record's timestamp (the broker's clock at delivery) minus its due time;
- TTL throughput: ``produce_with_ttl`` against plain ``produce`` in the same process,
  alternating rounds, as a ratio.

Every point verifies: the pending count after reopening, each released message exactly once,
every produced record read back.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time

from tools.bench.flymq_target import need
from tools.bench.machine import rss_mib
from tools.bench.procs import TempDir, run_isolated
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat, Target
from tools.bench.verify import VerificationError, make_payloads

SIZE = 100
DAY_MS = 24 * 3600 * 1000
_DUE = struct.Struct(">q")


def pending_point(pending: int, fsync: str) -> dict[str, float]:
    """In a fresh process: schedule ``pending`` delays a day ahead; RSS growth, produce rate;
    then, in another fresh interpreter, the time to reopen (to a broker that answers
    ``count_delayed``) and the RSS that costs."""
    broker_cls, config_cls = need("flymq.broker", "Broker"), need("flymq.broker.config",
                                                                  "BrokerConfig")
    payloads = make_payloads(13, pending, SIZE)
    with TempDir("b6d") as tmp:
        with broker_cls(tmp, config_cls(fsync=fsync)) as broker:
            broker.create_topic("later", 4)
            broker.produce_delayed("later", b"warm-up", DAY_MS)  # open __delayed and its index
            base = rss_mib()
            schedule = broker.produce_delayed
            t0 = time.perf_counter()
            for i, p in enumerate(payloads):
                schedule("later", p, DAY_MS + i % 1000)
            seconds = time.perf_counter() - t0
            growth = rss_mib() - base
        reopened = json.loads(subprocess.run(
            [sys.executable, "-c", _REOPEN, str(tmp), fsync], check=True, capture_output=True,
            text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout)
        if reopened["held"] != pending + 1:
            raise VerificationError(f"{pending:,} pending: {reopened['held']:,} after reopening")
    return {"delayed/s": pending / seconds, "RSS growth MiB": growth,
            "restart s": reopened["seconds"], "restart RSS growth MiB": reopened["growth"]}


#: Reopening in a fresh interpreter, so that its RSS is the restarted broker's alone.
_REOPEN = """
import json, sys, time
from flymq.broker import Broker
from flymq.broker.config import BrokerConfig
from tools.bench.machine import rss_mib
base = rss_mib()
t0 = time.perf_counter()
with Broker(sys.argv[1], BrokerConfig(fsync=sys.argv[2])) as broker:
    held = broker.count_delayed("later")
    seconds = time.perf_counter() - t0
    growth = rss_mib() - base
print(json.dumps({"held": held, "seconds": seconds, "growth": growth}))
"""


def release_lag_point(count: int, rate: int, fsync: str) -> dict[str, float]:
    """In a fresh process on the system clock: ``count`` messages due at ``rate`` per second
    from two seconds after they were all scheduled; lag percentiles in ms."""
    broker_cls, config_cls = need("flymq.broker", "Broker"), need("flymq.broker.config",
                                                                  "BrokerConfig")
    with TempDir("b6l") as tmp, broker_cls(tmp, config_cls(fsync=fsync)) as broker:
        broker.create_topic("due", 1)
        broker.produce_delayed("due", b"warm-up", 1)
        now_ms = broker.clock.now_ms
        start = now_ms() + 2000 + count * 1000 // 40_000   # room to schedule them all
        for i in range(count):
            due = start + i * 1000 // rate
            broker.produce_delayed("due", _DUE.pack(due) + _DUE.pack(i) + bytes(SIZE - 16),
                                   due - now_ms())
        if now_ms() >= start:
            raise VerificationError("scheduling took longer than the head start")
        end = start + count * 1000 // rate + 5000
        while broker.offsets("due", 0)[1] < count + 1 and now_ms() < end:
            time.sleep(0.05)
        messages = broker.fetch("due", 0, 1, count + 10).messages
        if len(messages) != count or len({m.data for m in messages}) != count:
            raise VerificationError(f"release lag: {len(messages):,} of {count:,} delivered")
        lags = sorted(m.timestamp_ms - _DUE.unpack_from(m.data)[0] for m in messages)
    pick = lambda q: float(lags[min(len(lags) - 1, int(q * len(lags)))])  # noqa: E731
    return {"releases/s": float(rate), "lag p50 ms": pick(0.50), "lag p99 ms": pick(0.99),
            "lag max ms": float(lags[-1])}


def ttl_point(count: int, fsync: str) -> dict[str, float]:
    """In a fresh process: ``count`` plain produces and ``count`` produce_with_ttl calls,
    alternating blocks of 1,000 (so that both see the same machine noise); msgs/s of each
    and their ratio."""
    broker_cls, config_cls = need("flymq.broker", "Broker"), need("flymq.broker.config",
                                                                  "BrokerConfig")
    payloads = make_payloads(14, count, SIZE)
    seconds = {"plain": 0.0, "ttl": 0.0}
    with TempDir("b6t") as tmp, broker_cls(tmp, config_cls(fsync=fsync)) as broker:
        broker.create_topic("plain", 1)
        broker.create_topic("ttl", 1)
        produce, with_ttl = broker.produce, broker.produce_with_ttl
        for p in payloads[:1000]:  # warm-up: both logs open, caches filled (not timed)
            produce("plain", p)
            with_ttl("ttl", p, DAY_MS)
        for start in range(0, count, 1000):
            block = payloads[start:start + 1000]
            t0 = time.perf_counter()
            for p in block:
                produce("plain", p)
            t1 = time.perf_counter()
            for p in block:
                with_ttl("ttl", p, DAY_MS)
            seconds["plain"] += t1 - t0
            seconds["ttl"] += time.perf_counter() - t1
        for topic in seconds:
            read, position = 0, 0
            while (batch := broker.fetch(topic, 0, position, 10_000)).messages:
                read += len(batch.messages)
                position = batch.next_offset
            if read != count + 1000:
                raise VerificationError(f"TTL throughput: {topic}: {read:,} of "
                                        f"{count + 1000:,} records read back")
    n = count
    plain, ttl = n / seconds["plain"], n / seconds["ttl"]
    return {"plain msgs/s": plain, "ttl msgs/s": ttl, "ttl / plain": ttl / plain}


def pending_delays_curve(ctx: Context, fsync: str, points: list[int]) -> None:
    """B6's pending-delays row: the ``b6`` scenario runs BENCHMARKS.md's 10^2 .. 10^5, this
    module's scenario the issue's 10^6 point."""
    for n in points:
        targets = [Target("RSS growth MiB", "<", 300, "issue 13"),
                   Target("restart s", "<", 2, "issue 13")] if n == 1_000_000 else []
        ctx.figure(f"pending delayed messages (fsync={fsync}, {SIZE} B, due in a day)",
                   f"{n:,} pending", Stat.collect([run_isolated(pending_point, n, fsync,
                                                                timeout=3600)]), targets)
        ctx.progress.step(f"pending delays: {n:,}")


@scenario("delays", "delayed delivery and TTL: pending delays, release lag, TTL throughput",
          lambda ctx: 3, cost=("15 min", "1 min"))
def delays(ctx: Context) -> None:
    fsync = ctx.fsync_modes[-1]
    pending_delays_curve(ctx, fsync, ctx.count([1_000_000], [10_000]))
    rate, count = 10_000, ctx.count(50_000, 10_000)
    ctx.figure(f"release lag (fsync={fsync}, system clock, {count:,} due)",
               f"{rate:,} releases/s",
               Stat.collect([run_isolated(release_lag_point, count, rate, fsync)]),
               [Target("lag p99 ms", "<", 10, "issue 13")])
    ctx.progress.step("release lag")
    rounds = [run_isolated(ttl_point, ctx.count(200_000, 20_000), fsync)
              for _ in range(ctx.rounds)]
    ctx.figure(f"TTL produce (fsync={fsync}, {SIZE} B, embedded, alternating rounds)",
               "produce_with_ttl vs produce", Stat.collect(rounds),
               [Target("ttl / plain", ">=", 0.9, "issue 13")])
    ctx.progress.step("TTL throughput")
