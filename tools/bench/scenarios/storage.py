"""Storage (issue 2): PartitionLog append and read vs a bare file, and reopen after kill -9.

The append figure held to the bare-file target measures ``PartitionLog.append_values``: the
values-only path the broker's batch produce takes for keyless, headerless records (what
producers send), writing byte for byte the batch ``append`` writes for the same records. The
bare file is handed values too. ``PartitionLog.append`` of ``Record`` objects (which must first
gather key, timestamp, header and expiry columns from every record) is reported beside it,
without a target, so the cost of that path stays visible.
"""

from __future__ import annotations

import time

from tools.bench.crash import BATCH, kill_after, log_writer
from tools.bench.flymq_target import need
from tools.bench.peers import flatten_payloads
from tools.bench.peers.bare_file import BareFile
from tools.bench.procs import TempDir
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat, Target
from tools.bench.stats import throughput
from tools.bench.verify import Checksum, VerificationError, expect_same, make_payload, \
    make_payloads

SIZE = 100
ISSUE = "issue 2"


def _log_round(payloads: list[bytes], records: list | None) -> tuple[dict, dict]:
    """Append (values when ``records`` is None, else the Records), reopen, read it all."""
    log_cls, config_cls = need("flymq.broker.storage", "PartitionLog"), \
        need("flymq.broker.storage", "LogConfig")
    with TempDir("storage") as tmp:
        log = log_cls(tmp / "log", config_cls())
        items, append = (payloads, log.append_values) if records is None else \
            (records, log.append)
        t0 = time.perf_counter()
        for i in range(0, len(items), BATCH):
            append(items[i:i + BATCH])
        t1 = time.perf_counter()
        log.close()
        log = log_cls(tmp / "log", config_cls())
        t2 = time.perf_counter()
        chunks, offset, end = [], 0, log.end_offset
        while offset < end:
            got = log.read(offset, max_records=10_000, max_bytes=16 << 20)
            chunks.append(got)
            offset = got[-1].offset + 1
        t3 = time.perf_counter()
        log.close()
    seen = Checksum()
    for chunk in chunks:
        seen.add_all(r.value for r in chunk)
    expect_same("PartitionLog append/read", Checksum.of(payloads), seen)
    n = len(payloads)
    return throughput(n, SIZE, t1 - t0), throughput(n, SIZE, t3 - t2)


def _bare_round(payloads: list[bytes]) -> tuple[dict, dict]:
    with TempDir("storage-bare") as tmp:
        bare = BareFile(tmp, "interval")
        t0 = time.perf_counter()
        bare.put_batched(payloads, BATCH)
        t1 = time.perf_counter()
        chunks = bare.drain()
        t2 = time.perf_counter()
        bare.close()
    expect_same("bare file", Checksum.of(payloads), Checksum.of(flatten_payloads(chunks)))
    return throughput(len(payloads), SIZE, t1 - t0), throughput(len(payloads), SIZE, t2 - t1)


def reopen_after_kill(target_bytes: int) -> dict[str, float]:
    """Write ``target_bytes`` in a child, kill -9 it, time PartitionLog open, check acks."""
    log_cls = need("flymq.broker.storage", "PartitionLog")
    config_cls = need("flymq.broker.storage", "LogConfig")
    with TempDir("reopen") as tmp:
        last = kill_after(log_writer, tmp / "log", 1024, target_bytes)[0]
        t0 = time.perf_counter()
        log = log_cls(tmp / "log", config_cls())
        seconds = time.perf_counter() - t0
        try:
            if log.end_offset <= last or log.read(last, 1)[0].value != make_payload(0, last, 1024):
                raise VerificationError(f"acknowledged offset {last} lost after kill -9 "
                                        f"(log end {log.end_offset})")
            size = log.size_bytes
        finally:
            log.close()
    return {"seconds to ready": seconds, "MiB in log": size / 2**20}


@scenario("storage", "PartitionLog append/read vs bare file; reopen after kill -9",
          lambda ctx: 3,
          cost=("1 min", "15 s"))
def storage(ctx: Context) -> None:
    record_cls = need("flymq.broker.storage", "Record")
    count = ctx.count(1_000_000, 50_000)
    payloads = make_payloads(2, count, SIZE)
    records = [record_cls(p) for p in payloads]
    _log_round(payloads[:BATCH * 10], None)                   # warm-up
    _log_round(payloads[:BATCH * 10], records[:BATCH * 10])
    logs = [_log_round(payloads, None) for _ in range(ctx.rounds)]
    record_logs = [_log_round(payloads, records) for _ in range(ctx.rounds)]
    bares = [_bare_round(payloads) for _ in range(ctx.rounds)]
    ctx.progress.step("append and read")
    for i, (op, target) in enumerate((("append", 500_000), ("sequential read", 1_000_000))):
        table = f"fsync=interval, {count:,} × {SIZE} B, batches of {BATCH:,}: {op}"
        name = "PartitionLog append_values (values path)" if op == "append" else \
            f"PartitionLog {op}"
        ours = ctx.figure(table, name, Stat.collect([r[i] for r in logs]),
                          [Target("msgs/s", ">=", target, ISSUE)])
        if op == "append":
            ctx.figure(table, "PartitionLog append (Record path)",
                       Stat.collect([r[i] for r in record_logs]), [])
        bare = ctx.figure(table, "bare file", Stat.collect([r[i] for r in bares]),
                          [Target("flymq ÷ peer", ">=", 0.5, ISSUE)] if op == "append" else [])
        bare.compare_to(ours, "msgs/s")
    target_bytes = ctx.count(1 << 30, 32 << 20)
    ctx.figure(f"reopen after kill -9 with {target_bytes / 2**20:,.0f} MiB written",
               "PartitionLog open", Stat.collect([reopen_after_kill(target_bytes)]),
               [Target("seconds to ready", "<", 1.0, ISSUE)],
               note="one crash per run; acknowledged offset verified")
    ctx.progress.step("reopen after kill -9")
