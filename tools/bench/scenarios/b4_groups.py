"""B4 (issue 15): the high-level consumer over TCP, alone and as a group of three processes;
end-to-end latency through it; how long a rebalance of 3 -> 4 members takes (system clock)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

from tools.bench.flymq_target import batch_producer, flymq_server, need, tcp_client
from tools.bench.procs import TempDir
from tools.bench.scenarios.b4_consume import STAMP, paced_latency
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat, Target
from tools.bench.stats import throughput
from tools.bench.verify import Checksum, VerificationError, expect_same, make_payloads

SIZE = 100
BATCH = 1_000
PARTITIONS = 6
POLL_RECORDS = 5_000
RATE = 1_000                  # offered load of the end-to-end test, msgs/s
REBALANCE_PARTITIONS = 60
FAST_HEARTBEAT_MS = 20        # the rebalance test's heartbeat interval (default 3,000)


def _fill(address: tuple[str, int], topic: str, payloads: list[bytes], partitions: int) -> None:
    client = tcp_client(address)
    try:
        client.create_topic(topic, partitions)
        produce_batch = batch_producer(client)
        for i in range(0, len(payloads), BATCH):
            produce_batch(topic, [(None, p, (i // BATCH) % partitions)
                                  for p in payloads[i:i + BATCH]])
    finally:
        client.close()


def _consumer(client: Any, topic: str, group: str, **settings: Any) -> Any:
    return client.consumer(topic, group, auto_offset_reset="earliest", enable_auto_commit=False,
                           max_poll_records=POLL_RECORDS, **settings)


def one_member(address: tuple[str, int], topic: str, payloads: list[bytes]) -> dict[str, float]:
    """One HighLevelConsumer reads every partition; commits once at the end."""
    client = tcp_client(address)
    values: list[bytes] = []   # checksummed after the clock stops, as B4's batch fetch does
    try:
        consumer = _consumer(client, topic, f"{topic}-one")
        t0 = time.perf_counter()
        while len(values) < len(payloads):
            values.extend(m.value for m in consumer.poll(timeout_ms=1000))
        consumer.commit()
        elapsed = time.perf_counter() - t0
        consumer.close()
    finally:
        client.close()
    expect_same(f"B4 high-level consumer {topic}", Checksum.of(payloads), Checksum.of(values))
    return throughput(len(payloads), SIZE, elapsed)


def _member_process(address: tuple[str, int], topic: str, group: str, total: int, members: int,
                    counter: Any, barrier: Any, results: Any) -> None:
    """One member of the group: settle (reading one record at a time), then read its share."""
    client = tcp_client(address)
    seen = Checksum()
    rebalances: list = []
    moved = -1
    try:
        consumer = _consumer(client, topic, group,
                             on_revoke=lambda parts: (consumer.commit(), rebalances.append(parts)))
        while True:
            for message in consumer.poll(timeout_ms=50, max_records=1):
                seen.add(message.value)
                with counter.get_lock():
                    counter.value += 1
            state = client.describe_group(group)
            if (state["state"] == "Stable" and len(state["members"]) == members
                    and consumer.assignment()):
                break
        settled = len(rebalances)
        barrier.wait()
        values: list[bytes] = []   # checksummed after the clock stops
        while counter.value < total:
            got = consumer.poll(timeout_ms=200)
            values.extend(m.value for m in got)
            with counter.get_lock():
                counter.value += len(got)
        consumer.commit()
        moved = len(rebalances) - settled
        barrier.wait()
        seen.add_all(values)
        consumer.close()
    finally:
        client.close()
        results.put((seen.count, seen.total, moved))


def group_of_three(address: tuple[str, int], topic: str, payloads: list[bytes]
                   ) -> dict[str, float]:
    """Three member processes share six partitions; aggregate rate from start to last read."""
    ctx = multiprocessing.get_context("spawn")   # the server may be a thread of this process
    counter, barrier, results = ctx.Value("q", 0), ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_member_process, daemon=True,
                         args=(address, topic, f"{topic}-three", len(payloads), 3, counter,
                               barrier, results)) for _ in range(3)]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=120)
    t0, before = time.perf_counter(), counter.value
    barrier.wait(timeout=600)
    elapsed = time.perf_counter() - t0
    seen, moved = Checksum(), 0
    for _ in procs:
        count, total, revoked = results.get(timeout=60)
        seen, moved = seen.merge(Checksum(count, total)), moved + revoked
    if moved:
        raise VerificationError(f"group of three: {moved} rebalance(s) while measuring")
    for proc in procs:
        proc.join(30)
    expect_same(f"B4 group of three {topic}", Checksum.of(payloads), seen)
    return throughput(len(payloads) - before, SIZE, elapsed)


def end_to_end(address: tuple[str, int], topic: str, seconds: float) -> dict[str, float]:
    """Produce at RATE msgs/s while a HighLevelConsumer (long-polling) receives."""
    total = int(RATE * seconds)
    producer, reader_client = tcp_client(address), tcp_client(address)
    producer.create_topic(topic, PARTITIONS)
    consumer = _consumer(reader_client, topic, f"{topic}-e2e")
    latencies: list[int] = []
    seen: set[int] = set()

    def consume() -> None:
        deadline = time.monotonic() + seconds + 30
        while len(latencies) < total and time.monotonic() < deadline:
            for m in consumer.poll(timeout_ms=100):
                now = time.perf_counter_ns()
                sent, seq = STAMP.unpack_from(m.value)
                latencies.append(now - sent)
                seen.add(seq)

    try:
        return paced_latency(producer, topic, total, RATE, consume, latencies, seen)
    finally:
        consumer.close()
        producer.close()
        reader_client.close()


def rebalance(address: tuple[str, int], topic: str) -> dict[str, float]:
    """Three polling members over 60 partitions; a fourth joins: the time until every member
    has its partitions of the new generation."""
    ConsumerGroupNotFoundError = need("flymq.errors", "ConsumerGroupNotFoundError")  # noqa: N806
    admin = tcp_client(address)
    admin.create_topic(topic, REBALANCE_PARTITIONS)
    group = f"{topic}-g"
    stop = threading.Event()
    assigned_at: dict[int, float] = {}
    clients, threads, consumers = [], [], []

    def member(index: int) -> None:
        client = tcp_client(address)
        clients.append(client)

        def on_assign(parts: list) -> None:
            assigned_at[index] = time.perf_counter()

        consumer = _consumer(client, topic, group, heartbeat_interval_ms=FAST_HEARTBEAT_MS,
                             on_assign=on_assign)
        consumers.append(consumer)
        while not stop.is_set():
            consumer.poll(timeout_ms=100)
        consumer.close()

    def start(index: int) -> None:
        thread = threading.Thread(target=member, args=(index,), daemon=True)
        threads.append(thread)
        thread.start()

    def settled(n: int) -> bool:
        try:
            state = admin.describe_group(group)
        except ConsumerGroupNotFoundError:   # nobody has joined yet
            return False
        return state["state"] == "Stable" and len(state["members"]) == n and all(
            m["assignment"] for m in state["members"]) and len(assigned_at) == n

    try:
        for i in range(3):
            start(i)
        deadline = time.monotonic() + 30
        while not settled(3):
            if time.monotonic() > deadline:
                raise VerificationError("rebalance: three members never settled")
            time.sleep(0.05)
        time.sleep(0.2)
        assigned_at.clear()
        t0 = time.perf_counter()
        start(3)
        deadline = time.monotonic() + 30
        while not settled(4) or len(assigned_at) < 4:
            if time.monotonic() > deadline:
                raise VerificationError(f"rebalance: 3 -> 4 did not complete: "
                                        f"{admin.describe_group(group)['state']}")
            time.sleep(0.001)
        elapsed = max(assigned_at.values()) - t0
        owned = [(a["topic"], a["partition"]) for m in admin.describe_group(group)["members"]
                 for a in m["assignment"]]
        if sorted(owned) != [(topic, p) for p in range(REBALANCE_PARTITIONS)]:
            raise VerificationError("rebalance: the partitions are not owned exactly once")
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        for client in clients:
            client.close()
        admin.close()
    return {"rebalance ms": elapsed * 1000}


@scenario("b4-groups", "high-level consumer: one member, a group of three, latency, rebalance",
          lambda ctx: 4)
def b4_groups(ctx: Context) -> None:
    count = ctx.count(1_000_000, 30_000)
    payloads = make_payloads(5, count, SIZE)
    fsync = ctx.fsync_modes[-1]
    with TempDir("b4g") as tmp, flymq_server(tmp, fsync, ctx.server) as (address, _):
        table = f"fsync={fsync}, high-level consumer over TCP, {count:,} × {SIZE} B, " \
                f"{PARTITIONS} partitions"
        _fill(address, "b4g-warm", payloads[:10 * BATCH], PARTITIONS)
        one_member(address, "b4g-warm", payloads[:10 * BATCH])
        rounds = []
        for i in range(ctx.rounds):
            _fill(address, f"b4g-{i}", payloads, PARTITIONS)
            rounds.append(one_member(address, f"b4g-{i}", payloads))
        ctx.figure(table, "one member", Stat.collect(rounds),
                   [Target("msgs/s", ">=", 400_000, "issue 15 (B4)")])
        ctx.progress.step("one member")
        threes = [group_of_three(address, f"b4g-{i}", payloads) for i in range(ctx.rounds)]
        ctx.figure(table, "group of 3 member processes (aggregate)", Stat.collect(threes),
                   [Target("msgs/s", ">=", 400_000, "issue 15 (B4)")])
        ctx.progress.step("group of three")
        e2e = [end_to_end(address, f"b4g-e2e-{i}", ctx.count(5, 1)) for i in range(ctx.rounds)]
        ctx.figure(f"fsync={fsync}, produce → HighLevelConsumer over TCP", "end-to-end latency",
                   Stat.collect(e2e),
                   [Target(f"p50 ms (at {RATE:,} msgs/s)", "<", 1, "issue 15 (B4)"),
                    Target(f"p99 ms (at {RATE:,} msgs/s)", "<", 5, "issue 15 (B4)")])
        ctx.progress.step("end-to-end latency")
        moves = [rebalance(address, f"b4g-rb-{i}") for i in range(ctx.rounds)]
        ctx.figure(f"rebalance of 3 → 4 members over {REBALANCE_PARTITIONS} partitions "
                   f"(system clock, heartbeat_interval_ms={FAST_HEARTBEAT_MS})", "rebalance",
                   Stat.collect(moves), [Target("rebalance ms", "<", 100, "issue 15 (B4)")])
        ctx.progress.step("rebalance")
