"""B5: embedded Broker ready time; `import flymq` and `flymq serve` start to accepting next
to `python -c pass` (medians of 11 starts, the README's start-up figures); recovery after
kill -9."""

from __future__ import annotations

import subprocess
import sys
import time

from tools.bench.crash import broker_writer, kill_after
from tools.bench.flymq_target import need
from tools.bench.procs import HOST, Child, TempDir, free_port, wait_for_port
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat, Target
from tools.bench.verify import VerificationError, make_payload

STARTS = 11     # the median of at least 10 starts (issue 18); odd, so it is one run's figure
FLOOR = "`python -c pass` (the floor: the interpreter's own start and exit)"
IMPORT = "`python -c 'import flymq'`"
SERVE = "`python -m flymq serve` to accepting connections"
ABOVE = "ms above the floor"


def broker_ready_ms() -> dict[str, float]:
    broker_cls = need("flymq.broker", "Broker")
    with TempDir("b5") as tmp:
        t0 = time.perf_counter()
        broker = broker_cls(tmp / "data")
        ms = (time.perf_counter() - t0) * 1000
        broker.close()
    return {"ms": ms}


def command_ms(argv: list[str]) -> float:
    """Wall-clock milliseconds of a command run to its end."""
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def start_up_round() -> dict[str, dict[str, float]]:
    """One start of each, back to back, so the machine's load of the moment weighs on all
    three alike: the bare interpreter, ``import flymq``, and ``flymq serve`` to accepting.
    flymq's rows add their time above this round's floor."""
    floor = command_ms([sys.executable, "-c", "pass"])
    imported = command_ms([sys.executable, "-c", "import flymq"])
    serve = serve_ready_ms()["ms"]
    return {FLOOR: {"ms": floor}, IMPORT: {"ms": imported, ABOVE: imported - floor},
            SERVE: {"ms": serve, ABOVE: serve - floor}}


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
    start_up_round()    # warm-up (the page cache)
    rounds = [start_up_round() for _ in range(STARTS)]
    for row, note in ((FLOOR, ""), (IMPORT, "includes the interpreter's start"),
                      (SERVE, "includes the interpreter's start")):
        ctx.figure("start-up", row, Stat.collect([r[row] for r in rounds]),
                   [Target("ms", "<", 300, "issue 4 (B5)")] if row == SERVE else [], note=note)
    ctx.progress.step("python, import flymq, flymq serve")
    target_bytes = ctx.count(256 << 20, 16 << 20)
    ctx.figure("recovery", f"Broker reopen after kill -9, {target_bytes >> 20} MiB in "
               "10 partitions", Stat.collect([broker_recovery(target_bytes)]),
               note="one crash; every partition's last acknowledged offset verified")
    ctx.progress.step("recovery")
