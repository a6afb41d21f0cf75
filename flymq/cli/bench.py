"""``flymq bench``: the benchmarks of a flymq source checkout (tools/bench)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flymq.cli.common import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run benchmarks (needs a source checkout)",
                       description="Run the benchmarks of tools/bench. Without a scenario, "
                                   "list the scenarios and what each costs.",
                       add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="arguments of `python -m tools.bench` (see `flymq bench --help`)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # tools/ is not installed with the package: look beside the package and above the cwd.
    roots = [Path(__file__).resolve().parents[2], *Path.cwd().resolve().parents, Path.cwd()]
    root = next((r for r in roots if (r / "tools" / "bench" / "cli.py").is_file()), None)
    if root is None:
        raise CliError("`flymq bench` needs a flymq source checkout (tools/bench/ was not "
                       "found next to the flymq package or above the current directory); "
                       "run it from the repository, or use `python -m tools.bench` there")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tools.bench.cli import main as bench_main

    return bench_main(args.bench_args or ["list"])
