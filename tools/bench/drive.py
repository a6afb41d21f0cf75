"""Parallel producers for networked systems: workers as threads or as separate processes.

Each worker opens its own connection before a start barrier, produces its share of unique
payloads, and reports its start/end times (``perf_counter`` is system-wide on Linux) and
latencies. The caller gets the wall time from the first start to the last end and the
checksum of everything produced, to compare with what it reads back.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import threading
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

from tools.bench.peers import StreamSystem
from tools.bench.verify import Checksum, make_payloads

WORKER_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Job:
    """What one worker sends: ``count`` payloads of ``size`` bytes tagged ``tag``."""

    system: StreamSystem
    stream: str
    partitions: int
    tag: int
    count: int
    size: int
    batch: int = 0          # 0: one message per request; else messages per round trip


@dataclass
class Outcome:
    seconds: float
    latencies_ns: array = field(default_factory=lambda: array("q"))
    produced: Checksum = field(default_factory=Checksum)


def _work(job: Job, barrier: Any) -> tuple[float, float, bytes]:
    payloads = make_payloads(job.tag, job.count, job.size)
    sender = job.system.sender(job.stream, job.partitions)
    try:
        barrier.wait(WORKER_TIMEOUT_S)
        start = time.perf_counter()
        if job.batch:
            sender.send_batched(payloads, job.batch)
            lat = array("q")
        else:
            lat = sender.send_each(payloads)
        return start, time.perf_counter(), lat.tobytes()
    finally:
        sender.close()


def _worker_main(job: Job, barrier: Any, results: Any) -> None:
    try:
        results.put(("ok", _work(job, barrier)))
    except BaseException as exc:  # reported to the parent, which fails the run
        barrier.abort()
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def produce(system: StreamSystem, stream: str, partitions: int, workers: int, total: int,
            size: int, mode: str, batch: int = 0, tag_base: int = 0) -> Outcome:
    """Split ``total`` messages over ``workers`` threads or processes and produce them."""
    shares = [total // workers + (1 if i < total % workers else 0) for i in range(workers)]
    jobs = [Job(system, stream, partitions, tag_base + i, n, size, batch)
            for i, n in enumerate(shares)]
    if mode == "processes":
        ctx = multiprocessing.get_context("spawn")
        barrier, results = ctx.Barrier(workers), ctx.Queue()
        runners = [ctx.Process(target=_worker_main, args=(j, barrier, results), daemon=True)
                   for j in jobs]
    else:
        barrier, results = threading.Barrier(workers), queue_module.Queue()
        runners = [threading.Thread(target=_worker_main, args=(j, barrier, results),
                                    daemon=True) for j in jobs]
    for r in runners:
        r.start()
    try:
        replies = [results.get(timeout=WORKER_TIMEOUT_S) for _ in runners]
    finally:
        for r in runners:
            r.join(10)
            if isinstance(r, multiprocessing.process.BaseProcess) and r.is_alive():
                r.kill()
    errors = [detail for status, detail in replies if status == "error"]
    if errors:
        raise RuntimeError(f"{len(errors)} of {workers} workers failed: {errors[0]}")
    outcome = Outcome(max(end for _, (_, end, _) in replies)
                      - min(start for _, (start, _, _) in replies))
    for _, (_, _, lat) in replies:
        outcome.latencies_ns.frombytes(lat)
    for job in jobs:
        outcome.produced.add_all(make_payloads(job.tag, job.count, job.size))
    return outcome
