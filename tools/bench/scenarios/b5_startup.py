"""B5: embedded Broker ready time, `flymq serve` start to accepting, recovery after kill -9."""

from __future__ import annotations

import sys
import time

from tools.bench.crash import broker_writer, kill_after
from tools.bench.flymq_target import need
from tools.bench.procs import HOST, Child, TempDir, free_port, wait_for_port
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat, Target
from tools.bench.verify import VerificationError, make_payload

STARTS = 5


def broker_ready_ms() -> dict[str, float]:
    broker_cls = need("flymq.broker", "Broker")
    with TempDir("b5") as tmp:
        t0 = time.perf_counter()
        broker = broker_cls(tmp / "data")
        ms = (time.perf_counter() - t0) * 1000
        broker.close()
    return {"ms": ms}


def serve_ready_ms() -> dict[str, float]:
    need("flymq.server", "Server")
    with TempDir("b5-serve") as tmp:
        port = free_port()
        t0 = time.perf_counter()
        with Child([sys.executable, "-m", "flymq", "serve", "--host", HOST, "--port", str(port),
                    "--data-dir", str(tmp / "data")], tmp / "serve.log") as proc:
            wait_for_port(port, proc, interval=0.001)
            ms = (time.perf_counter() - t0) * 1000
    return {"ms": ms}


def broker_recovery(target_bytes: int) -> dict[str, float]:
    broker_cls = need("flymq.broker", "Broker")
    with TempDir("b5-crash") as tmp:
        acked = kill_after(broker_writer, tmp / "data", 1024, target_bytes)
        t0 = time.perf_counter()
        broker = broker_cls(tmp / "data")
        seconds = time.perf_counter() - t0
        try:
            for p, last in acked.items():
                got = broker.fetch("crash", p, last, 1).messages
                if not got or got[0].data != make_payload(p, last, 1024):
                    raise VerificationError(f"partition {p}: acknowledged offset {last} lost")
        finally:
            broker.close()
    return {"seconds to ready": seconds, "partitions": float(len(acked))}


@scenario("b5", "start-up and recovery", lambda ctx: 3,
          cost=("30 s", "15 s"))
def b5(ctx: Context) -> None:
    broker_ready_ms()   # warm-up (imports)
    ctx.figure("start-up", "Broker(empty dir) to ready",
               Stat.collect([broker_ready_ms() for _ in range(STARTS)]))
    ctx.progress.step("Broker()")
    ctx.figure("start-up", "`python -m flymq serve` to accepting connections",
               Stat.collect([serve_ready_ms() for _ in range(STARTS)]),
               [Target("ms", "<", 300, "issue 4 (B5)")], note="includes interpreter start")
    ctx.progress.step("flymq serve")
    target_bytes = ctx.count(256 << 20, 16 << 20)
    ctx.figure("recovery", f"Broker reopen after kill -9, {target_bytes >> 20} MiB in "
               "10 partitions", Stat.collect([broker_recovery(target_bytes)]),
               note="one crash; every partition's last acknowledged offset verified")
    ctx.progress.step("recovery")
