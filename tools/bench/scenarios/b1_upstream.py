"""B1 against the upstream Go broker: upstream's own Go benchmark drives both brokers.

Each round runs the benchmark's full matrix (``-quick``: its 2 short tests), verification
on, once against the upstream Go broker and once against ``flymq serve`` per fsync mode, each
on a fresh server and data dir, in an order that rotates from round to round, so that both
brokers see the same machine. Every flymq row carries flymq ÷ Go broker per round (the median
of those paired ratios), which the machine's load moves far less than either throughput.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.bench import go_benchmark
from tools.bench.flymq_target import flymq_server
from tools.bench.go_benchmark import GoTest
from tools.bench.peers.flymq_go import go_broker, upstream_program
from tools.bench.procs import TempDir
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat

GO = "Go broker"
RATIO = "flymq ÷ Go broker"
TABLE = "upstream's Go benchmark (goroutine workers), verified, one server per run"


def systems(ctx: Context) -> list[tuple[str, str]]:
    """(row name, flymq fsync mode or "" for the Go broker), in the first round's order."""
    return [(GO, "")] + [(f"flymq serve, fsync={f}", f) for f in ctx.fsync_modes]


@contextmanager
def _server(workdir: Path, fsync: str, notes: dict[str, str]) -> Iterator[tuple[str, int]]:
    """The Go broker (fsync "") or a ``flymq serve`` process, on a fresh data dir."""
    if fsync:
        with flymq_server(workdir, fsync, "process") as (address, _):
            yield address
        return
    with go_broker(workdir) as broker:
        notes[GO] = broker.durability
        yield broker.address


def summaries(run: list[GoTest]) -> dict[str, float]:
    """A run's two summaries: the mean of its per-test msgs/s (upstream's way) and total
    messages ÷ total time."""
    return {"mean": sum(t.metrics["msgs/s"] for t in run) / len(run),
            "total": sum(t.count for t in run) / sum(t.count / t.metrics["msgs/s"] for t in run)}


def paired_ratios(ours: list[float], go: list[float]) -> Stat:
    """flymq ÷ Go broker round by round (each pair ran back to back)."""
    return Stat([a / b for a, b in zip(ours, go)])


def _steps(ctx: Context) -> int:
    return ctx.rounds * len(systems(ctx))


@scenario("b1-upstream", "upstream's Go benchmark against the upstream Go broker and flymq",
          _steps, cost=("3 min", "10 s"))
def b1_upstream(ctx: Context) -> None:
    for program in ("flymq", "benchmark"):
        upstream_program(program)  # skip at once, saying why, when upstream is absent
    order = systems(ctx)
    runs: dict[str, list[list[GoTest]]] = {name: [] for name, _ in order}
    notes: dict[str, str] = {}
    for rnd in range(ctx.rounds):
        for name, fsync in order[rnd % len(order):] + order[:rnd % len(order)]:
            with TempDir("b1-upstream") as tmp, _server(tmp, fsync, notes) as address:
                runs[name].append(go_benchmark.run(address, tmp, ctx.quick, f"{rnd}"))
            ctx.progress.step(f"round {rnd + 1}: {name}")
    report(ctx, runs, notes)


def report(ctx: Context, runs: dict[str, list[list[GoTest]]], notes: dict[str, str]) -> None:
    """Per test and per summary, one row per system; flymq rows add flymq ÷ Go broker."""
    go_runs = runs[GO]
    for i, test in enumerate(go_runs[0]):
        go_rate = [run[i].metrics["msgs/s"] for run in go_runs]
        for name, system_runs in runs.items():
            stats = Stat.collect([run[i].metrics for run in system_runs])
            if name != GO:
                stats[RATIO] = paired_ratios([run[i].metrics["msgs/s"] for run in system_runs],
                                             go_rate)
            ctx.figure(TABLE, f"{test.label} — {name}", stats)
    go_summaries = [summaries(run) for run in go_runs]
    for key, what in (("mean", f"mean of the {len(go_runs[0])} per-test msgs/s"),
                      ("total", "total messages ÷ total time")):
        for name, system_runs in runs.items():
            values = [summaries(run)[key] for run in system_runs]
            stats = {"msgs/s": Stat(values)}
            if name != GO:
                stats[RATIO] = paired_ratios(values, [s[key] for s in go_summaries])
            ctx.figure(TABLE, f"{what} — {name}", stats,
                       note=notes.get(name, "") if key == "mean" else "")
