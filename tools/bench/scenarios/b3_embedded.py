"""B3: in-process produce and consume, flymq's embedded Broker vs embedded queues."""

from __future__ import annotations

import time

from tools.bench.flymq_target import FlyMQEmbedded
from tools.bench.peers import EmbeddedQueue, flatten_payloads
from tools.bench.peers.bare_file import BareFile
from tools.bench.peers.litequeue_peer import LiteQueuePeer
from tools.bench.peers.persist_queue import PersistQueue
from tools.bench.procs import TempDir, Unavailable
from tools.bench.registry import Context, scenario
from tools.bench.results import Figure, Stat, Target
from tools.bench.stats import size_text, throughput
from tools.bench.verify import Checksum, expect_same, make_payloads

QUEUES: list[type[EmbeddedQueue]] = [FlyMQEmbedded, PersistQueue, LiteQueuePeer, BareFile]
SIZES = (100, 1024)
BATCH = 1_000
OPERATIONS = {"single produce": [], "batch produce": [],
              "consume by batch fetch": [Target("msgs/s", ">=", 1_000_000, "issue 3 (B3)")]}
#: The comparisons with the bare-file loop that lead the report, as (size, operation).
LEAD = {(100, "single produce"), (100, "batch produce"), (100, "consume by batch fetch"),
        (1024, "consume by batch fetch")}
#: Issue 3 sets the single-produce figure for 100 B values only; batch fetch at every size.
SINGLE_PRODUCE_100B = Target("msgs/s", ">=", 150_000, "issue 3 (B3), 100 B")


def targets_for(op: str, size: int) -> list[Target]:
    if op == "single produce" and size == 100:
        return [SINGLE_PRODUCE_100B]
    return OPERATIONS[op]


def one_round(cls: type[EmbeddedQueue], payloads: list[bytes], fsync: str
              ) -> dict[str, dict[str, float]]:
    """Fill a fresh queue one call per message, drain it, then (if it can) batch-fill one."""
    size, expected = len(payloads[0]), Checksum.of(payloads)
    out: dict[str, dict[str, float]] = {}
    with TempDir("b3") as tmp:
        queue = cls(tmp, fsync)
        try:
            t0 = time.perf_counter()
            queue.put_each(payloads)
            t1 = time.perf_counter()
            chunks = queue.drain()
            t2 = time.perf_counter()
        finally:
            queue.close()
        expect_same(f"{cls.name} single produce", expected, Checksum.of(flatten_payloads(chunks)))
        out["single produce"] = throughput(len(payloads), size, t1 - t0)
        out["consume by batch fetch"] = throughput(len(payloads), size, t2 - t1)
    if cls.can_batch:
        with TempDir("b3") as tmp:
            queue = cls(tmp, fsync)
            try:
                t0 = time.perf_counter()
                queue.put_batched(payloads, BATCH)
                t1 = time.perf_counter()
                chunks = queue.drain()
            finally:
                queue.close()
            expect_same(f"{cls.name} batch produce", expected,
                        Checksum.of(flatten_payloads(chunks)))
            out["batch produce"] = throughput(len(payloads), size, t1 - t0)
    return out


@scenario("b3", "embedded (in-process) produce and consume vs persist-queue, litequeue, file",
          lambda ctx: len(ctx.fsync_modes) * len(SIZES) * len(QUEUES),
          cost=("3 min", "20 s"))
def b3(ctx: Context) -> None:
    count = ctx.count(1_000_000, 20_000)
    for fsync in ctx.fsync_modes:
        for size in SIZES:
            payloads = make_payloads(3, count, size)
            tables: dict[str, list[Figure]] = {op: [] for op in OPERATIONS}
            for cls in QUEUES:
                n = min(count, cls.max_count or count)
                row = cls.name if n == count else f"{cls.name} (on {n:,} messages: slow)"
                try:
                    # A full-size warm-up: whichever queue runs first would otherwise
                    # pay, in its first counted round, for the first touch of the
                    # memory that its results and files take (a GiB at 1 KiB).
                    one_round(cls, payloads[:n], fsync)
                    rounds = [one_round(cls, payloads[:n], fsync) for _ in range(ctx.rounds)]
                except Unavailable as exc:
                    for op in OPERATIONS:
                        ctx.skip(f"fsync={fsync}, {size} B × {count:,}: {op}", cls.name, str(exc))
                    continue
                for op in OPERATIONS:
                    if op in rounds[0]:
                        stats = Stat.collect([r[op] for r in rounds])
                        title = f"fsync={fsync}, {size} B × {count:,}: {op}"
                        ours = cls is FlyMQEmbedded
                        tables[op].append(ctx.figure(title, row, stats,
                                                     targets_for(op, size) if ours else []))
                ctx.progress.step(f"{cls.name} {size} B fsync={fsync}")
            for op, figures in tables.items():
                if figures and figures[0].row == FlyMQEmbedded.name:
                    for fig in figures[1:]:
                        fig.compare_to(figures[0], "msgs/s")
                        if fig.row == BareFile.name and fsync == ctx.headline_fsync \
                                and (size, op) in LEAD:
                            ctx.headline(f"bare-file loop (embedded): {op}, {size_text(size)}, "
                                         f"fsync={fsync}", fig.ratio,
                                         f"{figures[0].metrics['msgs/s'].median:,.0f} vs "
                                         f"{fig.metrics['msgs/s'].median:,.0f} msgs/s")
