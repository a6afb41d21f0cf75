"""Outputs: terminal/Markdown tables, JSON, PNG charts, and docs/benchmarks.md."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tools.bench.machine import REPO_ROOT
from tools.bench.results import Figure, Results

DOCS_PAGE = REPO_ROOT / "docs" / "benchmarks.md"
DOCS_IMG = REPO_ROOT / "docs" / "img"


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _tables(figures: Iterable[Figure]) -> dict[tuple[str, str], list[Figure]]:
    grouped: dict[tuple[str, str], list[Figure]] = {}
    for fig in figures:
        grouped.setdefault((fig.scenario, fig.table), []).append(fig)
    return grouped


def _table_md(rows: list[Figure]) -> list[str]:
    metrics: list[str] = []
    for fig in rows:
        metrics += [m for m in fig.metrics if m not in metrics]
    with_ratio = any(f.ratio is not None for f in rows)
    with_target = any(f.targets for f in rows)
    head = ["", *metrics] + (["flymq ÷ row"] if with_ratio else []) \
        + (["target", "result"] if with_target else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for fig in rows:
        cells = [fig.row + (f" ({fig.note})" if fig.note else "")]
        for m in metrics:
            stat = fig.metrics.get(m)
            cell = fmt(stat.median) if stat else ""
            if stat and m == fig.primary() and len(stat.samples) > 1:
                cell += f" ±{stat.spread_pct:.0f}%"
            cells.append(cell)
        if with_ratio:
            cells.append(f"{fig.ratio:.2f}×" if fig.ratio is not None else "")
        if with_target:
            verdicts = fig.verdicts()
            cells.append("; ".join(t.describe() for t, _, _ in verdicts))
            cells.append("; ".join("PASS" if ok else "FAIL" for _, _, ok in verdicts))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets_md(results: Results) -> list[str]:
    lines = ["| scenario | measurement | target | measured | result | from |",
             "|---|---|---|---|---|---|"]
    for fig in results.figures:
        for target, measured, ok in fig.verdicts():
            lines.append(f"| {fig.scenario} | {fig.table} / {fig.row} | {target.describe()} | "
                         f"{fmt(measured)} | {'PASS' if ok else 'FAIL'} | {target.source} |")
    return lines if len(lines) > 2 else []


def headlines_md(results: Results) -> list[str]:
    """The short table of the ratios that matter (flymq ÷ a peer), in scenario order."""
    if not results.headlines:
        return []
    lines = ["## The ratios that matter", "", "| flymq ÷ | ratio | figures |", "|---|---|---|"]
    for h in results.headlines:
        ratio = "–" if h.ratio is None else f"{h.ratio:.2f}×"
        if h.ratio is not None and h.spread_pct is not None:
            ratio += f" ±{h.spread_pct:.0f}%"
        lines.append(f"| {h.label} | {ratio} | {h.detail} |")
    if any(h.spread_pct is not None for h in results.headlines):
        lines += ["", "± is (max - min) / median of the per-round ratios, where rounds "
                      "alternated the two systems."]
    return lines + [""]


def markdown(results: Results, charts: list[tuple[str, str]] = ()) -> str:
    """All results as Markdown: the ratios that matter, settings, targets, one table per
    measurement group, skips."""
    m, s = results.machine, results.settings
    out = headlines_md(results)
    out += [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']} "
            f"({m['distro']}), {m['implementation']} {m['python']}; flymq commit "
            f"`{m['git_commit']}`; run at {s['started']} taking {s.get('seconds', 0):.0f} s.",
            "", f"Command: `{s['command']}`", "",
            f"Durability modes: {', '.join('fsync=' + f for f in s['fsync_modes'])} "
            f"(flymq `interval` fsyncs every 200 ms; peers are configured to match, see each "
            f"table). Rounds: {s['rounds']} after warm-up; figures are medians, ± is "
            f"(max - min) / median over the rounds. MB = 10^6 bytes.", ""]
    if results.failures:
        out += ["## FAILED", ""] + [f"- **{k}**: {v}" for k, v in results.failures.items()] + [""]
    targets = targets_md(results)
    if targets:
        out += ["## Targets", ""] + targets + [""]
    for (scenario, table), rows in _tables(results.figures).items():
        out += [f"## {scenario}: {table}", ""] + _table_md(rows) + [""]
    if charts:
        out += ["## Charts", ""] + [f"![{title}]({path})" for title, path in charts] + [""]
    if results.skips:
        out += ["## Skipped", ""] + [f"- {s.scenario} / {s.table} / {s.row}: {s.reason}"
                                     for s in results.skips] + [""]
    return "\n".join(out)


def _leading_number(text: str) -> float | None:
    match = re.match(r"[\d,.]+", text)
    return float(match.group().replace(",", "")) if match else None


def charts(results: Results, img_dir: Path) -> list[tuple[str, Path]]:
    """PNG charts of B1 throughput and the B6 growth curves (needs matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    img_dir.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, Path]] = []
    b1 = {t: [r for r in rows if r.row.startswith("test")]
          for (sc, t), rows in _tables(results.figures).items() if sc == "b1"}
    if b1:
        made.append(("B1 throughput per test", _per_test_bars(
            plt, b1, "B1: one message per request over TCP (flymq's Python client)",
            img_dir / "b1-throughput.png", target=15_000)))
    upstream: dict[str, list[Figure]] = {}
    for r in results.figures:
        if r.scenario == "b1-upstream" and r.row.startswith("test"):
            upstream.setdefault(r.row.split(" — ", 1)[1], []).append(r)
    if upstream:
        made.append(("B1 per test, upstream Go broker and flymq, both driven by upstream's "
                     "Go benchmark", _per_test_bars(
                         plt, upstream, "B1 by upstream's Go benchmark: Go broker and flymq",
                         img_dir / "b1-upstream.png")))
    for (sc, table), rows in _tables(results.figures).items():
        points = [(x, r) for r in rows if (x := _leading_number(r.row)) is not None]
        if sc != "b6" or len(points) < 2 or any("msgs/s" not in r.metrics for _, r in points):
            continue  # a growth line needs a rate at each point (pending delays have RSS only)
        fig, ax = plt.subplots(figsize=(6, 3.6))
        xs = [x for x, _ in points]
        ax.plot(xs, [r.metrics["msgs/s"].median for _, r in points], "o-", color="tab:blue")
        ax.set_xscale("log")
        ax.set_xlabel(table)
        ax.set_ylabel("msgs/s", color="tab:blue")
        if all("RSS MiB" in r.metrics for _, r in points):
            ax2 = ax.twinx()
            ax2.plot(xs, [r.metrics["RSS MiB"].median for _, r in points], "s--",
                     color="tab:red")
            ax2.set_ylabel("RSS MiB", color="tab:red")
        ax.set_title(f"B6: {table}")
        slug = re.sub(r"[^a-z0-9]+", "-", table.split(" (")[0].lower()).strip("-")
        path = img_dir / f"b6-{slug}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        made.append((f"B6 {table}", path))
    return made


def _per_test_bars(plt: Any, series: dict[str, list[Figure]], title: str, path: Path,
                   target: float | None = None) -> Path:
    """Grouped bars of msgs/s: one group per test (rows named "test N: ..."), one bar per
    series."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(series)
    for i, (name, rows) in enumerate(series.items()):
        ax.bar([j + i * width for j in range(len(rows))],
               [r.metrics["msgs/s"].median for r in rows], width, label=name)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))],
                      [r.row.split(":")[0] for r in rows])
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1,
                   label=f"target {target:,.0f}")
    ax.set_ylabel("msgs/s (median)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write(results: Results, out_dir: Path) -> tuple[Path, Path]:
    """results.json, results.md and out_dir/img/*.png; returns the two file paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(results.to_json(), indent=1))
    made = charts(results, out_dir / "img")
    md_path = out_dir / "results.md"
    md_path.write_text(markdown(results, [(t, f"img/{p.name}") for t, p in made]))
    return json_path, md_path


_INTRO = """# flymq benchmarks

Generated by `python -m tools.bench ... --publish` from the results of one run (see the
command below); do not edit by hand. What each scenario measures is specified in the shared
BENCHMARKS.md; how to run them and how they verify their data is described at the end.

"""

_HOW = """
## How to run

```sh
pip install -e '.[bench]'                  # matplotlib tqdm pyinstrument redis hiredis ...
apt-get install -y redis-server redis-tools   # the Redis Streams peer and redis-benchmark
python -m tools.bench list                 # scenarios
python -m tools.bench all --quick          # every scenario with small counts (~minutes)
python -m tools.bench b1 --fsync never     # one scenario, one durability mode
python -m tools.bench all --rounds 3 --publish   # full run; rewrites this page
flymq bench b3 --profile                   # same CLI through flymq (from a repo checkout)
```

Every scenario consumes back what it produced and compares count and an order-independent
checksum (sum of CRC32s of unique payloads); a loss, a duplicate or an error makes the run
exit non-zero and no figure of that scenario is reported. Peers (redis-server, nats-server
with JetStream file storage) are started by the benchmark on 127.0.0.1 with ephemeral ports
and temporary directories and always stopped at the end; a peer that is not installed is
listed under "Skipped" with the command that installs it. Results of each run are written to
`bench-results/` (JSON with every sample, Markdown, charts); `--profile` adds a pyinstrument
(or cProfile) report of the scenario's main thread.

`b1-upstream` and the Go broker rows of B2 use the upstream FlyMQ Go broker and upstream's
own Go benchmark from `../shared/upstream` beside the project root (built from the unmodified
upstream source); where that folder is absent they are skipped, saying why. In B1/B2 the
Python client workers run as processes, and the Redis client parses with hiredis. A peer's own
native load generator gives its ceiling on the machine: `redis-benchmark` sending the same
XADD; NATS's `nats bench` ships in the nats CLI, which neither PyPI nor Debian packages, so
NATS has no such row.

Where `flymq serve`'s time goes under upstream's Go benchmark, what moved it and what stands
in the way of more: docs/server-performance.md.
"""


def publish(results: Results, out_dir: Path, page: Path = DOCS_PAGE, img: Path = DOCS_IMG
            ) -> Path:
    """Rewrite docs/benchmarks.md (and docs/img/*.png) from ``results``."""
    made = charts(results, out_dir / "img")
    img.mkdir(parents=True, exist_ok=True)
    linked = []
    for title, path in made:
        shutil.copy2(path, img / path.name)
        linked.append((title, f"img/{path.name}"))
    page.write_text(_INTRO + markdown(results, linked) + _HOW)
    return page
