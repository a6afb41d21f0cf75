"""B1: the upstream FlyMQ matrix over TCP, one message per request, fresh 6-partition topics."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from tools.bench import drive
from tools.bench.flymq_target import FlyMQTcp, flymq_server
from tools.bench.peers import StreamSystem
from tools.bench.procs import TempDir
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat, Target
from tools.bench.stats import percentiles, size_text, throughput
from tools.bench.verify import expect_same

PARTITIONS = 6
QUICK_DIVISOR = 20
MEAN_TARGET = Target("msgs/s", ">=", 15_000, "issue 4 (B1)")
_names = itertools.count()


@dataclass(frozen=True)
class Test:
    number: int
    size: int
    messages: int
    workers: int

    def count(self, ctx: Context) -> int:
        return self.messages if not ctx.quick else max(self.messages // QUICK_DIVISOR,
                                                        5 * self.workers)

    def label(self, ctx: Context) -> str:
        return (f"test {self.number}: {size_text(self.size)} × {self.count(ctx):,} × "
                f"{self.workers}w")


TESTS = [Test(1, 100, 5_000, 1), Test(2, 1024, 5_000, 1), Test(3, 10 * 1024, 2_000, 1),
         Test(4, 100 * 1024, 500, 1), Test(5, 1024, 10_000, 4), Test(6, 1024, 10_000, 8),
         Test(7, 1024, 20_000, 16), Test(8, 1024, 50_000, 8)]
WARMUP = Test(0, 1024, 1_000, 4)
READ_SECONDS = "read-back seconds"


def run_test(system: StreamSystem, test: Test, ctx: Context, mode: str, batch: int = 0
             ) -> dict[str, float]:
    """Produce one test's messages into a fresh stream, read them back, return metrics
    (with the produce's and the read-back's ``seconds``, which :func:`rates` drops)."""
    stream = f"bench-{system.name}-t{test.number}-{next(_names)}"
    system.create(stream, PARTITIONS)
    count = test.count(ctx)
    outcome = drive.produce(system, stream, PARTITIONS, test.workers, count, test.size, mode,
                            batch=batch, tag_base=test.number * 100)
    t0 = time.perf_counter()
    consumed = system.read_back(stream, PARTITIONS)
    read_seconds = time.perf_counter() - t0
    expect_same(f"{system.name} {test.label(ctx)}", outcome.produced, consumed)
    metrics = throughput(count, test.size, outcome.seconds)
    if not batch:
        metrics.update(percentiles(outcome.latencies_ns))
    metrics["seconds"], metrics[READ_SECONDS] = outcome.seconds, read_seconds
    return metrics


def _steps(ctx: Context) -> int:
    return len(ctx.fsync_modes) * len(ctx.workers) * (ctx.rounds * len(TESTS) + 1)


@scenario("b1", "upstream matrix, one message per request over TCP", _steps,
          cost=("8 min", "40 s"))
def b1(ctx: Context) -> None:
    for fsync in ctx.fsync_modes:
        with TempDir("b1") as tmp, flymq_server(tmp, fsync, ctx.server) as (address, _):
            system = FlyMQTcp(address)
            for mode in ctx.workers:
                table = f"fsync={fsync}, client workers as {mode}"
                for _ in range(2):
                    run_test(system, WARMUP, ctx, mode)
                ctx.progress.step(f"{table}: warm-up")
                per_test: dict[int, list[dict[str, float]]] = {t.number: [] for t in TESTS}
                summaries = []
                for _ in range(ctx.rounds):
                    for test in TESTS:
                        per_test[test.number].append(run_test(system, test, ctx, mode))
                        ctx.progress.step(f"{table}: {test.label(ctx)}")
                    runs = [per_test[t.number][-1] for t in TESTS]
                    summaries.append({
                        "mean msgs/s": sum(r["msgs/s"] for r in runs) / len(runs),
                        "total msgs/s": sum(t.count(ctx) for t in TESTS)
                        / sum(r["seconds"] for r in runs)})
                for test in TESTS:
                    ctx.figure(table, test.label(ctx), rates(per_test[test.number]))
                summary = Stat.collect(summaries)
                ctx.figure(table, "mean of the 8 per-test msgs/s",
                           {"msgs/s": summary["mean msgs/s"]}, [MEAN_TARGET])
                ctx.figure(table, "total messages ÷ total time",
                           {"msgs/s": summary["total msgs/s"]})


def rates(rounds: list[dict[str, float]]) -> dict[str, Stat]:
    """:func:`run_test` rounds as statistics of their rates and latencies (no durations)."""
    stats = Stat.collect(rounds)
    stats.pop("seconds")
    stats.pop(READ_SECONDS)
    return stats
