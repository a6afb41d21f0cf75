"""Upstream's own Go benchmark (``../shared/upstream/benchmark``): run it, read its JSON.

It speaks the FlyMQ protocol, so the same load generator, written in Go, drives the upstream
Go broker and ``flymq serve``; neither side is limited by a Python client. Its full run is the
8-test B1 matrix (``-quick``: 2 short tests), and ``-verify`` (its default) reads every
message back; a test that did not verify fails the run instead of giving a number.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.bench.peers.flymq_go import upstream_program
from tools.bench.stats import size_text, throughput
from tools.bench.verify import VerificationError

CLOSED_PORT = "127.0.0.1:1"      # -kafka-standalone pointed here makes it skip Kafka
RUN_TIMEOUT_S = 900.0
#: How many tests a full and a -quick run hold (an absent test fails the run).
TESTS_PER_RUN = {False: 8, True: 2}
#: Its latency fields, as our metric names (throughput is recomputed from the duration:
#: its MB are MiB, ours 10^6 bytes).
LATENCIES = {"latency_p50_ms": "p50 ms", "latency_p95_ms": "p95 ms",
             "latency_p99_ms": "p99 ms"}


@dataclass(frozen=True)
class GoTest:
    """One test of one run, as the Go benchmark reported it."""

    number: int
    name: str
    size: int
    count: int
    workers: int
    metrics: dict[str, float]

    @property
    def label(self) -> str:
        return f"test {self.number}: {size_text(self.size)} × {self.count:,} × {self.workers}w"


def parse_results(data: dict[str, Any], quick: bool) -> list[GoTest]:
    """The tests of one run's JSON output, numbered in order; raises
    :class:`VerificationError` for a test with errors, missing messages or a failed
    verification, and when the run holds fewer or more tests than it should."""
    rows = data.get("results") or []
    expected = TESTS_PER_RUN[quick]
    if len(rows) != expected:
        raise VerificationError(f"Go benchmark reported {len(rows)} tests, expected {expected}")
    tests = []
    for number, row in enumerate(rows, 1):
        count = row["message_count"]
        if not (row.get("success") and row.get("verification_ok") and row.get("errors") == 0
                and row.get("messages_verified") == count):
            raise VerificationError(
                f"Go benchmark test {number} ({row.get('name')}): success={row.get('success')}, "
                f"errors={row.get('errors')}, verified {row.get('messages_verified')} of "
                f"{count} (verification_ok={row.get('verification_ok')})")
        size = row["message_size_bytes"]
        metrics = throughput(count, size, row["duration_seconds"])
        metrics.update((ours, float(row[theirs])) for theirs, ours in LATENCIES.items())
        tests.append(GoTest(number, row["name"], size, count, row["concurrency"], metrics))
    return tests


def run(address: tuple[str, int], workdir: Path, quick: bool, tag: str) -> list[GoTest]:
    """One full (or -quick) run of the Go benchmark against ``address``, verified."""
    binary = upstream_program("benchmark")
    output = workdir / f"go-benchmark-{tag}.json"
    argv = [str(binary), "-mode", "standalone", "-flymq-standalone", f"{address[0]}:{address[1]}",
            "-kafka-standalone", CLOSED_PORT, "-verify", "-output", str(output)]
    done = subprocess.run(argv + (["-quick"] if quick else []), cwd=workdir,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if done.returncode != 0 or not output.exists():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise RuntimeError(f"Go benchmark exited with code {done.returncode}:\n{tail}")
    return parse_results(json.loads(output.read_text()), quick)
