"""``flymq inspect DATA_DIR``: what a data directory holds, read offline, with CRC checks and
the repair of a corrupt tail."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from flymq.cli.common import CliError, Formatter, print_json, print_table, progress

EXAMPLES = """examples:
  flymq inspect ~/.local/share/flymq/data            topics, partitions, offsets, sizes
  flymq inspect ./data --segments                    and every segment file
  flymq inspect ./data --verify                      CRC-check every batch (exit 1 if bad)
  flymq inspect ./data --verify --repair             repair what --verify found, after asking
  flymq inspect ./data --verify --repair --yes       without asking (scripts)

--repair needs the directory to itself: stop the `flymq serve` (or process) using it first.
It lists what it drops before it asks: a damaged stretch that sound records follow becomes
a filler that keeps its offsets (readers skip it; the records after it keep theirs); a
damaged tail (nothing sound after it) is cut. Zero bytes after the last batch of a sealed
segment hold no records: they are shown as a note, never read, and need no repair.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="read a data directory offline: offsets, sizes, CRCs",
                       description="Read a flymq data directory without a broker: topics, "
                                   "partitions, segments, offsets and sizes; --verify checks "
                                   "the CRC of every batch.",
                       epilog=EXAMPLES, formatter_class=Formatter)
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--segments", action="store_true", help="list every segment file")
    p.add_argument("--verify", action="store_true",
                   help="check the CRC of every batch (reads everything)")
    p.add_argument("--repair", action="store_true",
                   help="drop the damaged records --verify found (lists them, asks first)")
    p.add_argument("--yes", "-y", action="store_true", help="repair without asking")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def _logs(data_dir: Path) -> list[tuple[str, int | None, Path]]:
    """``(name, partition, directory)`` of every log: topic partitions, then internal logs."""
    found: list[tuple[str, int | None, Path]] = []
    topics = data_dir / "topics"
    if topics.is_dir():
        for entry in sorted(os.scandir(topics), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            try:
                meta = json.loads((Path(entry.path) / "topic.json").read_text("utf-8"))
                name, count = meta["name"], int(meta["partitions"])
            except (OSError, ValueError, KeyError, TypeError):
                name, count = f"? {entry.name} (unreadable topic.json)", 0
            for p in range(count):
                found.append((name, p, Path(entry.path) / str(p)))
    for root, dirs, files in os.walk(data_dir):
        path = Path(root)
        dirs.sort()
        if path == topics or topics in path.parents:
            dirs.clear()
            continue
        if any(f.endswith(".log") for f in files):
            found.append((str(path.relative_to(data_dir)), None, path))
    return found


def run(args: argparse.Namespace) -> int:
    from flymq.broker.storage.check import LogCheck, check_log, repair_log

    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise CliError(f"no data directory at {args.data_dir}")
    if not (data_dir / "topics").is_dir():
        raise CliError(f"{args.data_dir} is not a flymq data directory (no topics/ inside)")
    if args.repair and not args.verify:
        raise CliError("--repair acts on what --verify finds: add --verify", 2)
    lock_fd = _lock(data_dir, required=args.repair)
    try:
        logs = _logs(data_dir)
        total = sum(f.stat().st_size for _, _, d in logs if d.is_dir()
                    for f in d.iterdir() if f.suffix == ".log")
        checks: list[tuple[str, int | None, LogCheck | None]] = []
        with progress(total=total, desc="verify" if args.verify else "scan",
                      unit="B") as bar:
            for name, partition, directory in logs:
                check = check_log(directory, verify=args.verify, progress=bar.update) \
                    if directory.is_dir() else None  # a partition opens on first use
                checks.append((name, partition, check))
        bad = [(n, p, c) for n, p, c in checks if c is not None and c.first_problem]
        _report(args, checks, lock_fd is None)
        if bad and args.repair:
            return _repair(args, bad, repair_log)
        if bad:
            print(f"flymq: {len(bad)} log{'s' if len(bad) != 1 else ''} damaged (see STATUS); "
                  "--verify --repair drops the damaged records", file=sys.stderr)
            return 1
        return 0
    finally:
        if lock_fd is not None:
            os.close(lock_fd)


def _lock(data_dir: Path, *, required: bool) -> int | None:
    """The directory's lock for a repair; for a read-only look, None plus a warning when a
    broker holds it (its figures may move while we read)."""
    from flymq.broker.dir_lock import lock_directory
    from flymq.errors import StorageError

    try:
        return lock_directory(data_dir)
    except StorageError:
        if required:
            raise CliError(f"{data_dir} is in use by a running broker (a `flymq serve`?): "
                           "stop it before --repair") from None
        print(f"flymq: {data_dir} is in use by a running broker; figures may change while "
              "they are read", file=sys.stderr)
        return None


def _row(name: str, partition: int | None, check: Any) -> dict[str, Any]:
    if check is None:
        return {"log": name, "partition": partition, "segments": 0, "start_offset": 0,
                "end_offset": 0, "records": 0, "size_bytes": 0, "status": "empty"}
    bad = check.first_problem
    notes = "; ".join(f"{s.path.name}: {s.note}" for s in check.segments if s.note)
    status = "ok" if bad is None else f"BAD: {bad.path.name}: {bad.problem}"
    return {"log": name, "partition": partition, "segments": len(check.segments),
            "start_offset": check.start_offset, "end_offset": check.end_offset,
            "records": check.end_offset - check.start_offset, "size_bytes": check.size,
            "status": f"{status} ({notes})" if notes else status}


def _report(args: argparse.Namespace, checks: list, in_use: bool) -> None:
    rows = [_row(n, p, c) for n, p, c in checks]
    if args.json:
        print_json({"data_dir": str(args.data_dir), "in_use": in_use, "verified": args.verify,
                    "logs": [{**row, "checkpoint_offset": c.checkpoint_offset if c else None,
                              "segment_files": [s.as_dict() for s in c.segments] if c else []}
                             for row, (_, _, c) in zip(rows, checks)]})
        return
    print_table(rows, ("log", "partition", "segments", "start_offset", "end_offset", "records",
                       "size_bytes", "status"), empty="(no logs)")
    if args.segments:
        segs = [{"log": n, "partition": p, **s.as_dict()} for n, p, c in checks if c
                for s in c.segments]
        print()
        print_table(segs, ("log", "partition", "file", "base_offset", "next_offset", "batches",
                           "records", "size", "problem", "note"), empty="(no segments)")
    if not args.verify:
        print("(CRCs not checked: add --verify)")


def _repair(args: argparse.Namespace, bad: list, repair_log: Any) -> int:
    for name, partition, check in bad:
        where = name if partition is None else f"{name} partition {partition}"
        for line in check.repairs():
            print(f"{where}: {line}", file=sys.stderr)
    if not args.yes:
        if not sys.stdin or not sys.stdin.isatty():
            raise CliError("--repair asks before it cuts; without a terminal, pass --yes")
        answer = input("Drop these records? They are lost for good. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("flymq: nothing changed", file=sys.stderr)
            return 1
    for name, partition, check in bad:
        repair_log(check)
    print(f"repaired {len(bad)} log{'s' if len(bad) != 1 else ''}")
    return 0
