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
TABLE = ("upstream's Go benchmark (goroutine workers, its own 2 warm-up runs), verified, one "
         "server per run")


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
    """Per test and per summary, one row per system; flymq rows add flymq ÷ Go broker. The
    mean and test 1 of each flymq mode lead the report."""
    tests = runs[GO][0]
    mean = f"mean of the {len(tests)} per-test msgs/s"
    lines: dict[str, dict[str, list[dict[str, float]]]] = {
        test.label: {name: [run[i].metrics for run in rounds] for name, rounds in runs.items()}
        for i, test in enumerate(tests)}
    for key, what in (("mean", mean), ("total", "total messages ÷ total time")):
        lines[what] = {name: [{"msgs/s": summaries(run)[key]} for run in rounds]
                       for name, rounds in runs.items()}
    figures: dict[tuple[str, str], dict[str, Stat]] = {}
    for what, per_system in lines.items():
        go_rates = [m["msgs/s"] for m in per_system[GO]]
        for name, rounds in per_system.items():
            stats = figures[what, name] = Stat.collect(rounds)
            if name != GO:
                stats[RATIO] = paired_ratios([m["msgs/s"] for m in rounds], go_rates)
            ctx.figure(TABLE, f"{what} — {name}", stats,
                       note=notes.get(name, "") if what == mean else "")
    for name in runs:
        for what in (mean, tests[0].label) if name != GO else ():
            ours, go = figures[what, name], figures[what, GO]
            ctx.headline(f"upstream Go broker: B1 {what}, {name}", ours[RATIO],
                         f"{ours['msgs/s'].median:,.0f} vs {go['msgs/s'].median:,.0f} msgs/s, "
                         "both driven by upstream's Go benchmark; the Go broker acknowledges "
                         "before writing")
