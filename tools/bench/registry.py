"""The scenario registry and the context every scenario receives.

Adding a scenario: drop a module into ``tools/bench/scenarios/`` with a function decorated
``@scenario("name", "title")``; it is imported and listed automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tools.bench.progress import Progress
from tools.bench.results import Figure, Headline, Results, Stat, Target

T = TypeVar("T")


@dataclass
class Context:
    """Settings of this invocation plus the sinks a scenario reports into."""

    results: Results
    progress: Progress
    out: Path
    quick: bool = False
    rounds: int = 3
    fsync_modes: tuple[str, ...] = ("never", "interval")
    workers: tuple[str, ...] = ("threads", "processes")
    server: str = "process"           # "process" (python -m flymq serve) or "thread"
    scenario: str = ""

    def count(self, full: T, quick: T) -> T:
        """``full`` normally, ``quick`` with --quick."""
        return quick if self.quick else full

    def figure(self, table: str, row: str, metrics: dict[str, Stat],
               targets: list[Target] | None = None, note: str = "") -> Figure:
        return self.results.add(Figure(self.scenario, table, row, metrics, targets or [],
                                       note=note))

    @property
    def headline_fsync(self) -> str:
        """The fsync mode whose ratios lead the report: the durable default when it ran."""
        return "interval" if "interval" in self.fsync_modes else self.fsync_modes[-1]

    def headline(self, label: str, ratio: float | Stat | None, detail: str) -> None:
        """A ratio that matters (flymq ÷ a peer; a Stat of paired per-round ratios gives its
        median and spread), for the short table that leads the report."""
        if isinstance(ratio, Stat):
            value, spread = ratio.median, ratio.spread_pct if len(ratio.samples) > 1 else None
        else:
            value, spread = ratio, None
        self.results.headlines.append(Headline(self.scenario, label, value, detail, spread))

    def skip(self, table: str, row: str, reason: str) -> None:
        self.results.skip(self.scenario, table, row, reason)
        self.progress.note(f"  skipped {table} / {row}: {reason}")


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    run: Callable[[Context], None]
    steps: Callable[[Context], int]
    cost: tuple[str, str] = ("?", "?")
    """About how long a full and a --quick run take (``python -m tools.bench list``)."""


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, title: str, steps: Callable[[Context], int] = lambda ctx: 1, *,
             cost: tuple[str, str] = ("?", "?")
             ) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Register ``fn(ctx)`` as scenario ``name``; ``steps(ctx)`` sizes its progress bar;
    ``cost`` says about how long a full and a --quick run take."""
    def register(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        if name in SCENARIOS:
            raise ValueError(f"duplicate benchmark scenario {name!r}")
        SCENARIOS[name] = Scenario(name, title, fn, steps, cost)
        return fn
    return register
