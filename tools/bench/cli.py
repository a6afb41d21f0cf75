"""Command line: ``python -m tools.bench {list|all|NAME...} [options]``."""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

from tools.bench import report
from tools.bench.machine import machine_info
from tools.bench.procs import exit_on_sigterm
from tools.bench.progress import Progress
from tools.bench.registry import Context
from tools.bench.results import Results
from tools.bench.runner import ensure_dir, load_scenarios, run_scenarios

FSYNC_CHOICES = {"never": ("never",), "interval": ("interval",), "always": ("always",),
                 "both": ("never", "interval")}
WORKER_CHOICES = {"threads": ("threads",), "processes": ("processes",),
                  "both": ("threads", "processes")}


def build_parser(names: list[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description="flymq benchmarks (B1-B6, storage), verified and side by side with peers.")
    p.add_argument("scenarios", nargs="*", default=["list"], metavar="SCENARIO",
                   help=f"'list' (the default: what each costs), 'all', or any of: "
                        f"{', '.join(names)}")
    p.add_argument("--fsync", choices=sorted(FSYNC_CHOICES), default=None,
                   help="durability mode(s) for flymq and peers (default: both = never and "
                        "interval; --quick: interval)")
    p.add_argument("--workers", choices=sorted(WORKER_CHOICES), default=None,
                   help="B1 client workers as threads, processes or both (default: both; "
                        "--quick: threads)")
    p.add_argument("--server", choices=["process", "thread"], default=None,
                   help="flymq server as a `python -m flymq serve` subprocess or in this "
                        "process via Server.start_in_thread (default: process; --quick: thread)")
    p.add_argument("--quick", action="store_true", help="small counts, one mode (smoke run)")
    p.add_argument("--rounds", type=int, default=None,
                   help="measured rounds after warm-up (default 3; --quick: 1)")
    p.add_argument("--out", type=Path, default=Path("bench-results"),
                   help="output directory (default: bench-results/)")
    p.add_argument("--publish", action="store_true",
                   help="rewrite docs/benchmarks.md and docs/img/ from this run")
    p.add_argument("--profile", action="store_true",
                   help="write a pyinstrument (or cProfile) report per scenario to --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def print_list(registry: dict) -> None:
    """Each scenario with what it costs, and how to run them. The costs are the scenarios'
    own estimates (``~``), never measured here: the only measured time is the published
    run's total in docs/benchmarks.md, so the listing says which is which."""
    def estimate(cost: str) -> str:
        return cost if cost == "?" else "~" + cost

    print(f"{'SCENARIO':10} {'FULL':>8} {'--quick':>8}  WHAT")
    for sc in registry.values():
        print(f"{sc.name:10} {estimate(sc.cost[0]):>8} {estimate(sc.cost[1]):>8}  {sc.title}")
    print("\nrun: python -m tools.bench NAME... [--quick]  (or `flymq bench NAME...`); "
          "'all' runs every scenario.\nFULL and --quick are estimated wall-clock times on a "
          "2-core machine, not measurements (? = no estimate);\nthe last published run's "
          "measured total is on the Machine line of docs/benchmarks.md. "
          "Peers that are not installed are skipped.")


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()  # SIGTERM stops the servers this run started and removes its temp dirs
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("\nbenchmark interrupted; its servers were stopped and temp dirs removed",
              file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    registry = load_scenarios()
    parser = build_parser(list(registry))
    args = parser.parse_args(argv)
    if args.scenarios == ["list"]:
        print_list(registry)
        return 0
    names = list(registry) if "all" in args.scenarios else args.scenarios
    unknown = [n for n in names if n not in registry]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)} (try 'list')")
    quick = args.quick
    argv_text = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    results = Results(machine=machine_info(), settings={
        "command": f"python -m tools.bench {argv_text}".strip(),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": quick, "rounds": args.rounds or (1 if quick else 3),
        "fsync_modes": list(FSYNC_CHOICES[args.fsync or ("interval" if quick else "both")]),
        "workers": list(WORKER_CHOICES[args.workers or ("threads" if quick else "both")]),
        "server": args.server or ("thread" if quick else "process"), "scenarios": names})
    s = results.settings
    ctx = Context(results=results, progress=Progress(not args.no_progress),
                  out=ensure_dir(args.out), quick=quick, rounds=s["rounds"],
                  fsync_modes=tuple(s["fsync_modes"]), workers=tuple(s["workers"]),
                  server=s["server"])
    started = time.perf_counter()
    ok = run_scenarios(ctx, names, profile=args.profile)
    s["seconds"] = time.perf_counter() - started
    json_path, md_path = report.write(results, args.out)
    print(md_path.read_text())
    print(f"\nwrote {json_path} and {md_path}")
    if args.publish:
        print(f"published {report.publish(results, args.out)}")
    if not ok:
        print("BENCHMARK FAILED: " + "; ".join(results.failures), file=sys.stderr)
    return 0 if ok else 1
