"""B2: flymq next to Redis Streams and NATS JetStream on B1 tests 1, 2, 6 and a batched run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from tools.bench.flymq_target import FlyMQTcp, flymq_server
from tools.bench.peers import StreamSystem
from tools.bench.peers.nats_jetstream import nats_server
from tools.bench.peers.redis_streams import redis_server
from tools.bench.procs import TempDir, Unavailable
from tools.bench.registry import Context, scenario
from tools.bench.results import Figure, Stat
from tools.bench.scenarios.b1_matrix import TESTS, Test, run_test

BATCH = 1_000
BATCHED = Test(9, 1024, 50_000, 1)
PICKED = [t for t in TESTS if t.number in (1, 2, 6)]
BATCH_NAMES = {"flymq": "produce_batch of 1,000", "redis": "pipeline of 1,000 XADD",
               "nats": "publish_async, acks gathered per 1,000"}


@contextmanager
def _flymq(workdir: Path, fsync: str, server_mode: str) -> Iterator[StreamSystem]:
    with flymq_server(workdir, fsync, server_mode) as (address, _):
        yield FlyMQTcp(address)


Starter = Callable[[Path, str], AbstractContextManager[StreamSystem]]


def _systems(ctx: Context) -> list[tuple[str, Starter]]:
    return [("flymq", lambda d, f: _flymq(d, f, ctx.server)),
            ("redis", redis_server), ("nats", nats_server)]


def _tests(ctx: Context) -> list[tuple[Test, int]]:
    return [(t, 0) for t in PICKED] + [(BATCHED, BATCH)]


def _title(test: Test, batch: int, ctx: Context, fsync: str) -> str:
    if batch:
        return f"fsync={fsync}, batched: 1 KiB × {BATCHED.count(ctx):,}, {batch:,} per round trip"
    return f"fsync={fsync}, {test.label(ctx)}"


@scenario("b2", "flymq vs Redis Streams and NATS JetStream (TCP)",
          lambda ctx: len(ctx.fsync_modes) * 3 * 4,
          cost=("4 min", "30 s"))
def b2(ctx: Context) -> None:
    for fsync in ctx.fsync_modes:
        rows: dict[str, list[tuple[str, Figure]]] = {}
        for name, start in _systems(ctx):
            try:
                with TempDir(f"b2-{name}") as tmp, start(tmp, fsync) as system:
                    for test, batch in _tests(ctx):
                        title = _title(test, batch, ctx, fsync)
                        run_test(system, test, ctx, "threads", batch)   # warm-up
                        stats = Stat.collect([run_test(system, test, ctx, "threads", batch)
                                              for _ in range(ctx.rounds)])
                        stats.pop("seconds")
                        row = f"{name} ({BATCH_NAMES[name]})" if batch else name
                        rows.setdefault(title, []).append((name, ctx.figure(title, row, stats)))
                        ctx.progress.step(f"{name}: {title}")
            except Unavailable as exc:
                for test, batch in _tests(ctx):
                    ctx.skip(_title(test, batch, ctx, fsync), name, str(exc))
        for figures in rows.values():
            ours = dict(figures).get("flymq")
            for name, fig in figures:
                if ours is not None and name != "flymq":
                    fig.compare_to(ours, "msgs/s")
