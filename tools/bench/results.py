"""Result records: per-metric statistics, figures, targets, skips and failures."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Stat:
    """Samples of one metric over the measured rounds (warm-up excluded)."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    @property
    def spread_pct(self) -> float:
        """(max - min) / median, in percent."""
        med = self.median
        return 0.0 if med == 0 else (self.high - self.low) / abs(med) * 100.0

    @staticmethod
    def collect(rounds: list[dict[str, float]]) -> dict[str, "Stat"]:
        """Per-round metric dicts -> one Stat per metric (keeping first-seen order)."""
        samples: dict[str, list[float]] = {}
        for metrics in rounds:
            for name, value in metrics.items():
                samples.setdefault(name, []).append(value)
        return {name: Stat(values) for name, values in samples.items()}

    def to_json(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high,
                "spread_pct": round(self.spread_pct, 2), "samples": self.samples}


@dataclass
class Target:
    """An issue's goal for one metric, e.g. ``Target("msgs/s", ">=", 15000, "issue 6")``."""

    metric: str
    op: str
    value: float
    source: str

    def passes(self, measured: float) -> bool:
        return measured >= self.value if self.op == ">=" else measured < self.value

    def describe(self) -> str:
        value = f"{self.value:,.0f}" if self.value >= 100 else f"{self.value:g}"
        return f"{self.metric} {self.op} {value}"


@dataclass
class Figure:
    """One row of a result table: a named measurement with its metrics."""

    scenario: str
    table: str
    row: str
    metrics: dict[str, Stat]
    targets: list[Target] = field(default_factory=list)
    ratio: float | None = None        # flymq ÷ this row (peer rows only)
    ratio_metric: str = ""
    note: str = ""

    def primary(self) -> str:
        return next(iter(self.metrics))

    def compare_to(self, flymq: "Figure", metric: str, higher_is_better: bool = True) -> None:
        """Set this peer row's ratio: flymq's median ÷ this row's (inverted for times)."""
        mine, theirs = self.metrics[metric].median, flymq.metrics[metric].median
        self.ratio = (theirs / mine if higher_is_better else mine / theirs) if mine and theirs \
            else None
        self.ratio_metric = metric

    def verdicts(self) -> list[tuple[Target, float, bool]]:
        """Each target with the measured median and whether it passes."""
        out = []
        for target in self.targets:
            if target.metric == "flymq ÷ peer":
                measured = self.ratio if self.ratio is not None else float("nan")
            else:
                measured = self.metrics[target.metric].median
            out.append((target, measured, target.passes(measured)))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "table": self.table, "row": self.row,
                "metrics": {k: v.to_json() for k, v in self.metrics.items()},
                "targets": [dict(asdict(t), measured=m, passed=ok)
                            for t, m, ok in self.verdicts()],
                "ratio": self.ratio, "ratio_metric": self.ratio_metric, "note": self.note}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Figure":
        return cls(scenario=data["scenario"], table=data["table"], row=data["row"],
                   metrics={k: Stat(v["samples"]) for k, v in data["metrics"].items()},
                   targets=[Target(t["metric"], t["op"], t["value"], t["source"])
                            for t in data["targets"]],
                   ratio=data["ratio"], ratio_metric=data["ratio_metric"], note=data["note"])


@dataclass
class Skip:
    """A row that could not run (missing peer or flymq component), with the reason."""

    scenario: str
    table: str
    row: str
    reason: str


@dataclass
class Headline:
    """One of the ratios that matter, which docs/benchmarks.md leads with: flymq ÷ a peer,
    with the figures it comes from (``spread_pct``: of paired per-round ratios, if any)."""

    scenario: str
    label: str
    ratio: float | None
    detail: str
    spread_pct: float | None = None


@dataclass
class Results:
    """Everything one invocation measured, plus the context needed to read it."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    headlines: list[Headline] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def skip(self, scenario: str, table: str, row: str, reason: str) -> None:
        self.skips.append(Skip(scenario, table, row, reason))

    def drop_scenario(self, scenario: str) -> None:
        """Forget every figure (and headline) of a scenario whose verification failed."""
        self.figures = [f for f in self.figures if f.scenario != scenario]
        self.headlines = [h for h in self.headlines if h.scenario != scenario]

    def to_json(self) -> dict[str, Any]:
        return {"machine": self.machine, "settings": self.settings,
                "figures": [f.to_json() for f in self.figures],
                "skips": [asdict(s) for s in self.skips], "failures": self.failures,
                "headlines": [asdict(h) for h in self.headlines]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Results":
        return cls(machine=data["machine"], settings=data["settings"],
                   figures=[Figure.from_json(f) for f in data["figures"]],
                   skips=[Skip(**s) for s in data["skips"]], failures=data["failures"],
                   headlines=[Headline(**h) for h in data.get("headlines", [])])
