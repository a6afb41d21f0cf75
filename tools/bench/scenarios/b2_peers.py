"""B2: flymq next to the upstream Go broker, Redis Streams and NATS JetStream on B1 tests 1,
2, 6 and a batched produce and fetch; one client harness (workers as processes) drives all
four, and a peer's own native load generator, where it ships one, gives its ceiling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from tools.bench.flymq_target import FlyMQTcp, flymq_server
from tools.bench.peers import StreamSystem
from tools.bench.peers.flymq_go import go_broker
from tools.bench.peers.nats_jetstream import nats_server
from tools.bench.peers.redis_streams import redis_server
from tools.bench.procs import TempDir, Unavailable
from tools.bench.registry import Context, scenario
from tools.bench.results import Figure, Stat
from tools.bench.scenarios.b1_matrix import READ_SECONDS, TESTS, Test, rates, run_test
from tools.bench.stats import throughput

BATCH = 1_000
BATCHED = Test(9, 1024, 50_000, 1)
PICKED = [t for t in TESTS if t.number in (1, 2, 6)]
#: Client workers run as processes: each has its own GIL, so the Python client harness can
#: neither flatter nor punish a system (threads of one process serialise their clients).
WORKERS = "processes"
BATCH_NAMES = {"flymq": "produce_batch of 1,000", "go-broker": "1,000 pipelined PRODUCE",
               "redis": "pipeline of 1,000 XADD", "nats": "publish_async, acks gathered per 1,000"}
READ_NAMES = {"flymq": "FETCH of up to 10,000", "go-broker": "FETCH of up to 10,000",
              "redis": "XRANGE of 10,000", "nats": "pull fetch of 1,000, each acked"}
GO_NOTE = "acks before writing: see b1-upstream"


@contextmanager
def _flymq(workdir: Path, fsync: str, server_mode: str) -> Iterator[StreamSystem]:
    with flymq_server(workdir, fsync, server_mode) as (address, _):
        yield FlyMQTcp(address)


Starter = Callable[[Path, str], AbstractContextManager[StreamSystem]]


def _systems(ctx: Context) -> list[tuple[str, Starter]]:
    return [("flymq", lambda d, f: _flymq(d, f, ctx.server)), ("go-broker", go_broker),
            ("redis", redis_server), ("nats", nats_server)]


def _tests(ctx: Context) -> list[tuple[Test, int]]:
    return [(t, 0) for t in PICKED] + [(BATCHED, BATCH)]


def _title(test: Test, batch: int, ctx: Context, fsync: str) -> str:
    if batch:
        return f"fsync={fsync}, batched: 1 KiB × {BATCHED.count(ctx):,}, {batch:,} per round trip"
    return f"fsync={fsync}, {test.label(ctx)}"


def _fetch_title(ctx: Context, fsync: str) -> str:
    return (f"fsync={fsync}, batched fetch: the Python client reads back and checksums the "
            f"1 KiB × {BATCHED.count(ctx):,}")


class _Tables:
    """One fsync mode's rows, table by table, so each peer row gets flymq ÷ peer."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rows: dict[str, list[tuple[str, Figure]]] = {}

    def add(self, title: str, name: str, row: str, stats: dict[str, Stat]) -> None:
        fig = self.ctx.figure(title, row, stats, note=GO_NOTE if name == "go-broker" else "")
        self.rows.setdefault(title, []).append((name, fig))

    def compare(self, lead: dict[str, str]) -> None:
        """Set each peer row's ratio; the Redis client rows of the tables in ``lead``
        (title -> what) lead the report."""
        for title, figures in self.rows.items():
            ours = dict(figures).get("flymq")
            if ours is None:
                continue
            for name, fig in figures:
                if name == "flymq":
                    continue
                fig.compare_to(ours, "msgs/s")
                if name == "redis" and title in lead:
                    self.ctx.headline(
                        f"Redis: {lead[title]}", fig.ratio,
                        f"{ours.metrics['msgs/s'].median:,.0f} vs "
                        f"{fig.metrics['msgs/s'].median:,.0f} msgs/s, {fig.row} with hiredis")


@scenario("b2", "flymq vs the upstream Go broker, Redis Streams and NATS JetStream (TCP)",
          lambda ctx: len(ctx.fsync_modes) * 4 * 4,
          cost=("7 min", "40 s"))
def b2(ctx: Context) -> None:
    no_native: set[str] = set()
    for fsync in ctx.fsync_modes:
        tables = _Tables(ctx)
        for name, start in _systems(ctx):
            try:
                with TempDir(f"b2-{name}") as tmp, start(tmp, fsync) as system:
                    for test, batch in _tests(ctx):
                        title = _title(test, batch, ctx, fsync)
                        run_test(system, test, ctx, WORKERS, batch)   # warm-up
                        runs = [run_test(system, test, ctx, WORKERS, batch)
                                for _ in range(ctx.rounds)]
                        tables.add(title, name, f"{name} ({BATCH_NAMES[name]})" if batch
                                   else name, rates(runs))
                        if batch:
                            tables.add(_fetch_title(ctx, fsync), name,
                                       f"{name} ({READ_NAMES[name]})",
                                       Stat.collect([throughput(test.count(ctx), test.size,
                                                                r[READ_SECONDS]) for r in runs]))
                        if system.native_tool and name not in no_native:
                            _native(ctx, system, test, batch, title, tables, no_native)
                        ctx.progress.step(f"{name}: {title}")
            except Unavailable as exc:
                for test, batch in _tests(ctx):
                    ctx.skip(_title(test, batch, ctx, fsync), name, str(exc))
        size = f"1 KiB, fsync={fsync}"
        tables.compare({_title(BATCHED, BATCH, ctx, fsync): f"batched produce, {size}",
                        _fetch_title(ctx, fsync): f"batched fetch, {size}"}
                       if fsync == ctx.headline_fsync else {})


def _native(ctx: Context, system: StreamSystem, test: Test, batch: int, title: str,
            tables: _Tables, no_native: set[str]) -> None:
    """The peer's own load generator on the same test: its ceiling on this machine."""
    row = f"{system.name}: {system.native_tool} (its native client: the ceiling)"
    try:
        runs = [system.native(f"native-{test.number}-{i}", test.count(ctx), test.size,
                              test.workers, batch) for i in range(ctx.rounds)]
    except Unavailable as exc:
        no_native.add(system.name)      # said once, not in every table
        ctx.skip(title, row, str(exc))
        return
    tables.add(title, f"{system.name} native", row, Stat.collect(runs))
