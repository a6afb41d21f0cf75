"""Transactions (issue 12): committed transactions per second embedded and over one TCP
connection, the cost of read-committed on plain consumption, and recovery after kill -9 with
10,000 open or undecided transactions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tools.bench.flymq_target import FETCH_MAX_MESSAGES, flymq_server, need, open_broker, \
    tcp_client
from tools.bench.procs import TempDir
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat, Target
from tools.bench.stats import throughput
from tools.bench.verify import VerificationError, make_payloads

SIZE = 100
PER_TXN = 10
FSYNC = "interval"
UNDECIDED = 10_000


def committed_txns(client, topic: str, payloads: list[bytes],
                   partitions: int = 1) -> dict[str, float]:
    """Commit ``len(payloads) / PER_TXN`` transactions of PER_TXN records each, spread
    round-robin over ``partitions`` (one: the broker's one-phase commit; more: two-phase)."""
    client.create_topic(topic, partitions)
    t0 = time.perf_counter()
    for i in range(0, len(payloads), PER_TXN):
        with client.transaction() as txn:
            for value in payloads[i:i + PER_TXN]:
                txn.produce(topic, value)
    seconds = time.perf_counter() - t0
    seen = 0
    for partition in range(partitions):
        offset = 0
        while True:
            got = client.fetch(topic, partition, offset, FETCH_MAX_MESSAGES)
            if not got.messages:
                break
            seen += len(got.messages)
            offset = got.next_offset
    if seen != len(payloads):
        raise VerificationError(f"{topic}: {len(payloads)} committed, {seen} readable")
    n = len(payloads) // PER_TXN
    return {"txns/s": n / seconds, "msgs/s": len(payloads) / seconds}


def plain_fetch(broker, topic: str, count: int, read_uncommitted: bool) -> dict[str, float]:
    """Read the whole topic with 10,000-record fetches."""
    offset, seen = 0, 0
    t0 = time.perf_counter()
    while True:
        runs, offset = broker.fetch_runs(topic, 0, offset, FETCH_MAX_MESSAGES,
                                         read_uncommitted=read_uncommitted)
        if not runs:
            break
        seen += sum(stop - start for _, start, stop in runs)
    seconds = time.perf_counter() - t0
    if seen != count:
        raise VerificationError(f"read {seen} of {count}")
    return throughput(count, SIZE, seconds)


UNDECIDED_CHILD = """
    import os, sys
    from flymq.broker import Broker, BrokerConfig
    from flymq.broker.transactions import TransactionCoordinator
    class Stop(BaseException):
        pass
    real = TransactionCoordinator._write
    def write(self, *changes):
        if any(c.startswith(b'["C"') for c in changes):
            raise Stop()          # the decision never gets written: kill -9 before it
        real(self, *changes)
    TransactionCoordinator._write = write
    TransactionCoordinator._abort_written = lambda *args: None
    b = Broker(sys.argv[1], BrokerConfig(fsync="interval", max_open_transactions=30_000))
    b.create_topic("t", 8)
    n = int(sys.argv[2])
    for i in range(n):                       # undecided: prepared and written, no decision
        txn = b.begin_transaction()
        for j in range(3):
            b.produce_transactional(txn, "t", b"u%d" % i)
        try:
            b.commit_transaction(txn)
        except Stop:
            pass
    for i in range(n):                       # open: buffered in memory only
        b.produce_transactional(b.begin_transaction(), "t", b"o%d" % i)
    print("ready", flush=True)
    sys.stdin.read()
"""


def recovery(count: int) -> dict[str, float]:
    broker_cls = need("flymq.broker", "Broker")
    with TempDir("txn-crash") as tmp:
        data = tmp / "data"
        root = Path(__file__).resolve().parents[3]
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(UNDECIDED_CHILD),
                                  str(data), str(count)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, cwd=root)
        try:
            if child.stdout.readline().strip() != "ready":
                raise VerificationError("the transaction writer did not get ready")
        finally:
            child.kill()
            child.wait()
        t0 = time.perf_counter()
        broker = broker_cls(data)
        ready = time.perf_counter() - t0
        try:
            visible = sum(len(broker.fetch("t", p, 0, 100_000).messages) for p in range(8))
            first_read = time.perf_counter() - t0
            if visible:
                raise VerificationError(f"{visible} records of undecided transactions visible")
        finally:
            broker.close()
    return {"seconds to ready": ready, "seconds to first read": first_read}


@scenario("txn", "transactions: commits/s (embedded, TCP), read-committed cost, recovery",
          lambda ctx: 4, cost=("2 min", "20 s"))
def txn(ctx: Context) -> None:
    count = ctx.count(200_000, 10_000)
    payloads = make_payloads(12, count, SIZE)
    table = f"fsync={FSYNC}, transactions of {PER_TXN} × {SIZE} B to one partition"
    with TempDir("txn") as tmp, open_broker(tmp / "data", FSYNC) as broker:
        client = broker.client()
        committed_txns(client, "warm", payloads[:10 * PER_TXN])
        rounds = [committed_txns(client, f"e{i}", payloads) for i in range(ctx.rounds)]
        spread = [committed_txns(client, f"s{i}", payloads[:count // 4], 3)
                  for i in range(ctx.rounds)]
        client.close()
    ctx.figure(table, "embedded: client.transaction()", Stat.collect(rounds),
               [Target("txns/s", ">=", 15_000, "issue 12")])
    ctx.figure(f"fsync={FSYNC}, transactions of {PER_TXN} × {SIZE} B over 3 partitions "
               "(two-phase commit)", "embedded: client.transaction()", Stat.collect(spread))
    ctx.progress.step("embedded")
    with TempDir("txn-tcp") as tmp, flymq_server(tmp, FSYNC, ctx.server) as (address, _):
        client = tcp_client(address)
        try:
            committed_txns(client, "warm", payloads[:10 * PER_TXN])
            rounds = [committed_txns(client, f"t{i}", payloads[:count // 2])
                      for i in range(ctx.rounds)]
        finally:
            client.close()
    ctx.figure(table, "one TCP connection: client.transaction()", Stat.collect(rounds),
               [Target("txns/s", ">=", 5_000, "issue 12")])
    ctx.progress.step("TCP")

    reads = ctx.count(1_000_000, 50_000)
    with TempDir("txn-read") as tmp, open_broker(tmp / "data", FSYNC) as broker:
        broker.create_topic("plain", 1)
        values = make_payloads(13, reads, SIZE)
        for i in range(0, reads, 1000):
            broker.produce_batch("plain", [(None, v, 0) for v in values[i:i + 1000]])
        plain_fetch(broker, "plain", reads, False)
        both = {False: [], True: []}
        for _ in range(max(ctx.rounds, 5)):   # interleaved, so drift hits both alike
            for uncommitted in (True, False):
                both[uncommitted].append(plain_fetch(broker, "plain", reads, uncommitted))
    table = f"embedded batch fetch of {reads:,} × {SIZE} B, a topic without transactions"
    rc = ctx.figure(table, "read-committed (the default)", Stat.collect(both[False]))
    base = ctx.figure(table, "read-uncommitted (no stable-offset bound, no aborted-data check)",
                      Stat.collect(both[True]),
                      [Target("flymq ÷ peer", ">=", 0.95, "issue 12: read-committed costs < 5 %")],
                      note="ratio = read-committed ÷ this row")
    base.compare_to(rc, "msgs/s")
    ctx.progress.step("read-committed cost")
    ctx.figure("recovery", f"Broker reopen after kill -9 with {UNDECIDED:,} undecided and "
               f"{UNDECIDED:,} open transactions", Stat.collect([recovery(UNDECIDED)]),
               [Target("seconds to ready", "<", 1.0, "issue 12")])
    ctx.progress.step("recovery")
