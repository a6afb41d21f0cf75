"""Power-loss rounds: ``flymq serve`` on LazyFS, killed at a random point, then a power loss.

A round starts ``flymq serve`` with its data directory on a LazyFS mount and drives it over
TCP from this process: producer threads (two per partition, so that appends share group
commits) append single records and batches, one thread creates topics, one commits group
offsets, and each notes what was acknowledged and when. At a random moment the server gets
SIGKILL and LazyFS drops every unsynced byte (``lazyfs::clear-cache``); the server is started
again on the same files and everything is read back. A round repeats this ``cycles`` times on
one data directory, so recovery's own writes meet the next power loss too.

What must hold after every power loss, under every fsync policy:

- every record read back is one that was produced, byte for byte, in each producer's order,
  with no gap: a producer's surviving records are its first ``k``;
- reads raise nothing (a torn or corrupt tail is cut by recovery, never returned);
- records that survived an earlier power loss are still there, unchanged;
- the committed group offset is the one the previous power loss left or one committed since.

What must survive, by policy (``interval``: see :func:`interval_window_s`):

- ``always``: every acknowledged record, topic creation and offset commit;
- ``interval``: everything acknowledged before the last interval before the kill;
- ``never``: nothing is promised; the losses are counted.

Run the long version with ``python -m tools.reliability.powerloss --rounds 25`` (root, fuse3
and ``../shared/lazyfs`` needed); it prints kills, acknowledged and lost records per policy
(docs/reliability.md shows a run).
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from flymq import FlyMQClient
from flymq.errors import ConsumerGroupNotFoundError
from flymq.testing import ServeProcess

from tools.reliability.lazyfs import LazyFS, LazyFSError, unavailable

POLICIES = ("always", "interval", "never")
TOPIC = "pl"
PARTITIONS = 2
GROUP = "pl-group"
CREATED_PREFIX = "pl-c"
SEGMENT_BYTES = 32 * 1024    # small segments: rolls (each fsyncs a segment) happen every round
FSYNC_INTERVAL_MS = 200      # the broker's default
GRACE_S = 0.5                # beyond the interval: a flush's own fsyncs and thread wake-up
BATCH_MAX = 20
READ_CHUNK = 1000
#: LazyFS now and then fails an ``ftruncate`` of an open, existing file with ENOENT (flymq
#: cuts files when it recovers a log), so a start or a first read can fail with this text;
#: such calls are retried and counted, never taken for a flymq failure.
LAZYFS_QUIRK = "no such file or directory"
QUIRK_ATTEMPTS = 5
T = TypeVar("T")


def interval_window_s(fsync_interval_ms: int = FSYNC_INTERVAL_MS) -> float:
    """How long before the kill an acknowledgement may still be lost under ``interval``.

    The flusher thread fsyncs each dirty log every interval, timed from the start of its
    previous pass, and each flush covers every append completed before it began. A record
    acknowledged at ``t`` was appended before ``t``, so the first flush that starts after
    ``t`` (by ``t + interval`` plus wake-up latency) makes it durable once its fsyncs end.
    Losing a record acknowledged earlier than ``interval + GRACE_S`` before the kill breaks
    the promise; :attr:`PolicyTotals.lost_max_age_s` reports how old lost records really were.
    """
    return fsync_interval_ms / 1000 + GRACE_S


def value_of(tag: str, n: int) -> bytes:
    """The ``n``-th value of producer ``tag``: its name, then 10-300 bytes that depend on
    both, so a record read back is checked byte for byte, and a torn one cannot pass."""
    head = f"{tag}:{n}:".encode()
    rng = random.Random(head)
    return head + rng.randbytes(rng.randrange(10, 300))


def parse_value(value: bytes) -> tuple[str, int] | None:
    """``(tag, n)`` of a value made by :func:`value_of`, None if it is not one byte for byte."""
    parts = value.split(b":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    try:
        tag, n = parts[0].decode(), int(parts[1])
    except UnicodeDecodeError:
        return None
    return (tag, n) if value_of(tag, n) == value else None


@dataclass
class Ack:
    """An acknowledged record: where the broker said it is, and when this process heard."""
    partition: int
    offset: int
    tag: str
    n: int
    at: float


@dataclass
class Workload:
    """The threads that write to one server until it dies, and what they were told.

    Offsets are committed counting up from ``commit_base`` (the committed offset the
    previous power loss left), so every commit is told apart from every earlier one."""
    address: str
    cycle: int
    seed: int
    commit_base: int = 0
    acks: list[Ack] = field(default_factory=list)
    created: list[tuple[str, float]] = field(default_factory=list)     # (topic, acked at)
    commits: list[tuple[int, float]] = field(default_factory=list)     # (offset, acked at)
    commits_sent: int = 0                                              # the last one sent
    failures: list[tuple[float, str]] = field(default_factory=list)   # (when, what) per thread
    threads: list[threading.Thread] = field(default_factory=list)
    first_ack: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        jobs: list[Callable[[FlyMQClient], None]] = [
            self._producer(p, f"c{self.cycle}p{p}{side}", self.seed + 2 * p + i)
            for p in range(PARTITIONS) for i, side in enumerate("ab")]
        jobs += [self._creator, self._committer]
        for job in jobs:
            thread = threading.Thread(target=self._run, args=(job,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def wait_first_ack(self, timeout: float = 30.0) -> None:
        """Wait until some record was acknowledged, so that every round writes something."""
        if not self.first_ack.wait(timeout):
            raise RuntimeError(f"nothing acknowledged in {timeout} s: {self.failures[:3]}")

    def join(self, timeout: float = 30.0) -> None:
        for thread in self.threads:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError("a writer thread did not stop after the server died")

    def _run(self, job: Callable[[FlyMQClient], None]) -> None:
        """Run ``job`` until it fails, as it does once the server dies; when it failed is
        noted, since a failure before the kill is a finding."""
        try:
            with FlyMQClient(self.address, max_retries=0, connect_timeout_ms=5000,
                             request_timeout_ms=20000) as client:
                job(client)
        except Exception as exc:
            self.failures.append((time.monotonic(), repr(exc)))

    def _producer(self, partition: int, tag: str, seed: int) -> Callable[[FlyMQClient], None]:
        rng = random.Random(seed)

        def produce(client: FlyMQClient) -> None:
            n = 0
            while True:
                count = 1 if rng.random() < 0.5 else rng.randrange(2, BATCH_MAX + 1)
                values = [value_of(tag, n + i) for i in range(count)]
                if count == 1:
                    offsets = [client.produce_to_partition(TOPIC, partition, values[0])]
                else:
                    _, placed = client.append_batch(TOPIC, [(None, v, partition) for v in values])
                    offsets = [offset for _, offset in placed]
                at = time.monotonic()
                self.acks += [Ack(partition, int(o), tag, n + i, at)
                              for i, o in enumerate(offsets)]
                self.first_ack.set()
                n += count
        return produce

    def _creator(self, client: FlyMQClient) -> None:
        for i in itertools.count():
            name = f"{CREATED_PREFIX}{self.cycle}-{i}"
            client.create_topic(name, 1)
            self.created.append((name, time.monotonic()))

    def _committer(self, client: FlyMQClient) -> None:
        offset = self.commits_sent = self.commit_base
        while True:
            offset += 1
            self.commits_sent = offset
            client.commit_offset(TOPIC, GROUP, 0, offset)
            self.commits.append((offset, time.monotonic()))


@dataclass
class CycleResult:
    """What one power loss did: the counts and every broken promise found."""
    policy: str
    acked: int = 0
    lost: int = 0
    lost_max_age_s: float = 0.0       # the oldest lost acknowledgement, seconds before the kill
    lost_unpromised: int = 0          # lost records the policy promised to keep
    unacked_survivors: int = 0        # records in flight at the kill that survived (allowed)
    topics_acked: int = 0
    topics_lost: int = 0
    commits_acked: int = 0
    committed: int = 0                # the group's committed offset after recovery
    commit_lost: bool = False
    problems: list[str] = field(default_factory=list)
    quirks: list[str] = field(default_factory=list)    # LazyFS errors retried (LAZYFS_QUIRK)


def retrying(call: Callable[[], T], quirks: list[str]) -> T:
    """``call()``, again while it fails with :data:`LAZYFS_QUIRK` (noted in ``quirks``)."""
    for attempt in range(QUIRK_ATTEMPTS):
        try:
            return call()
        except Exception as exc:
            if LAZYFS_QUIRK not in str(exc).lower() or attempt == QUIRK_ATTEMPTS - 1:
                raise
            quirks.append(str(exc))
    raise AssertionError("unreachable")


def promised(policy: str, acked_at: float, killed_at: float) -> bool:
    """Whether ``policy`` promises that what was acknowledged at ``acked_at`` survives a power
    loss at ``killed_at``."""
    if policy == "always":
        return True
    if policy == "interval":
        return acked_at < killed_at - interval_window_s()
    return False


def read_partition(client: FlyMQClient, partition: int) -> list[bytes]:
    """Every value of the partition, oldest first (a read error is the caller's finding)."""
    start, end = client.partition_offsets(TOPIC, partition)
    values: list[bytes] = []
    offset = start
    while offset < end:
        messages = client.fetch(TOPIC, partition, offset, READ_CHUNK).messages
        if not messages:
            raise AssertionError(f"partition {partition}: fetch at {offset} returned nothing "
                                 f"before the end offset {end}")
        for message in messages:
            if message.offset != offset:
                raise AssertionError(f"partition {partition}: offset {message.offset} where "
                                     f"{offset} was expected")
            values.append(bytes(message.value))
            offset += 1
    return values


def check_cycle(client: FlyMQClient, policy: str, work: Workload, killed_at: float,
                survivors: dict[int, list[bytes]], quirks: list[str]) -> CycleResult:
    """Compare what the restarted server holds with what ``work`` was told; updates
    ``survivors`` (per partition, every value that is there now) for the next cycle."""
    result = CycleResult(policy, acked=len(work.acks), quirks=quirks)
    problem = result.problems.append
    for at, failure in work.failures:
        if at < killed_at:
            problem(f"a writer failed before the kill: {failure}")
    acked_by_tag: dict[str, list[Ack]] = {}
    for ack in work.acks:
        acked_by_tag.setdefault(ack.tag, []).append(ack)
    for partition in range(PARTITIONS):
        try:
            log = retrying(lambda: read_partition(client, partition), quirks)
        except Exception as exc:  # CorruptRecordError and friends: never acceptable
            problem(f"partition {partition}: read after recovery failed: {exc!r}")
            continue
        before = survivors.get(partition, [])
        if log[:len(before)] != before:
            problem(f"partition {partition}: records that survived the previous power loss "
                    f"changed or vanished ({len(before)} then, {len(log)} now)")
        next_n: dict[str, int] = {}
        for offset, value in enumerate(log[len(before):], len(before)):
            parsed = parse_value(value)
            if parsed is None:
                problem(f"partition {partition} offset {offset}: a value nobody produced "
                        f"({value[:40]!r}...)")
                break
            tag, n = parsed
            if n != next_n.get(tag, 0):
                problem(f"partition {partition} offset {offset}: {tag} record {n} where "
                        f"{next_n.get(tag, 0)} was next (a gap or a reordering)")
                break
            next_n[tag] = n + 1
        for tag, acks in acked_by_tag.items():
            if acks[0].partition != partition:
                continue
            for ack in acks:
                if ack.offset < len(log):
                    if log[ack.offset] != value_of(ack.tag, ack.n):
                        problem(f"partition {partition} offset {ack.offset}: holds another "
                                f"record than the acknowledged {ack.tag} #{ack.n}")
                    continue
                result.lost += 1
                result.lost_max_age_s = max(result.lost_max_age_s, killed_at - ack.at)
                if promised(policy, ack.at, killed_at):
                    result.lost_unpromised += 1
            result.unacked_survivors += max(0, next_n.get(tag, 0) - len(acks))
        survivors[partition] = log
    topics = set(client.list_topics())
    result.topics_acked = len(work.created)
    for name, at in work.created:
        if name not in topics:
            result.topics_lost += 1
            if promised(policy, at, killed_at):
                problem(f"topic {name}: its acknowledged creation was lost")
    result.commits_acked = len(work.commits)
    try:
        committed = client.get_committed_offset(TOPIC, GROUP, 0)
    except ConsumerGroupNotFoundError:
        committed = 0  # no commit survived, or none was made
    result.committed = committed
    if not work.commit_base <= committed <= work.commits_sent:
        problem(f"committed offset {committed}: neither the one the previous power loss left "
                f"({work.commit_base}) nor one committed since (up to {work.commits_sent})")
    kept = [offset for offset, at in work.commits if promised(policy, at, killed_at)]
    if work.commits and committed < work.commits[-1][0]:
        result.commit_lost = True
    if kept and committed < kept[-1]:
        problem(f"committed offset {committed}: the acknowledged commit of {kept[-1]} was lost")
    if result.lost_unpromised:
        problem(f"{result.lost_unpromised} acknowledged records lost that {policy} promised "
                f"to keep (oldest acknowledged {result.lost_max_age_s:.3f} s before the kill)")
    return result


def serve_args(data_dir: Path, policy: str, segment_bytes: int = SEGMENT_BYTES
               ) -> tuple[str, ...]:
    return ("--port", "0", "--data-dir", str(data_dir), "--fsync", policy,
            "--fsync-interval-ms", str(FSYNC_INTERVAL_MS), "--segment-bytes", str(segment_bytes))


def serve(quirks: list[str], *args: str) -> ServeProcess:
    """``flymq serve ARGS``, started again if LazyFS failed its start (:data:`LAZYFS_QUIRK`)."""
    return retrying(lambda: ServeProcess(*args), quirks)


def run_round(fs: LazyFS, policy: str, data_dir: Path, rng: random.Random, *, cycles: int,
              kill_after_s: tuple[float, float], served_policy: str | None = None,
              segment_bytes: int = SEGMENT_BYTES) -> list[CycleResult]:
    """``cycles`` times: serve on ``data_dir``, write, SIGKILL at a random moment, power loss,
    restart and check ``policy``'s promises. Returns one result per power loss.

    ``served_policy`` (default ``policy``) is the policy the server really runs: another one
    shows that the checks catch a broker keeping less than it promised."""
    args = serve_args(data_dir, served_policy or policy, segment_bytes)
    results = []
    survivors: dict[int, list[bytes]] = {}
    committed = 0
    for cycle in range(cycles):
        quirks: list[str] = []
        with serve(quirks, *args) as server:
            with FlyMQClient(server.bootstrap, max_retries=0) as client:
                client.create_topic(TOPIC, PARTITIONS)
            work = Workload(server.bootstrap, cycle, rng.randrange(1 << 30), committed)
            work.start()
            work.wait_first_ack()
            time.sleep(rng.uniform(*kill_after_s))
            killed_at = time.monotonic()
            server.kill()
            work.join()
        fs.power_loss()
        with serve(quirks, *args) as server:
            with FlyMQClient(server.bootstrap, max_retries=0) as client:
                results.append(check_cycle(client, policy, work, killed_at, survivors, quirks))
        committed = results[-1].committed
    return results


@dataclass
class PolicyTotals:
    """One policy's figures over a run."""
    policy: str
    kills: int = 0
    acked: int = 0
    lost: int = 0
    lost_max_age_s: float = 0.0
    unacked_survivors: int = 0
    topics_acked: int = 0
    topics_lost: int = 0
    commits_acked: int = 0
    commits_lost: int = 0
    lazyfs_retries: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, r: CycleResult) -> None:
        self.kills += 1
        self.acked += r.acked
        self.lost += r.lost
        self.lost_max_age_s = max(self.lost_max_age_s, r.lost_max_age_s)
        self.unacked_survivors += r.unacked_survivors
        self.topics_acked += r.topics_acked
        self.topics_lost += r.topics_lost
        self.commits_acked += r.commits_acked
        self.commits_lost += r.commit_lost
        self.lazyfs_retries += len(r.quirks)
        self.problems += r.problems


COLUMNS = ("policy", "kills", "acked records", "lost", "oldest lost (ms before kill)",
           "in-flight kept", "topics acked/lost", "last commit lost", "LazyFS retries",
           "violations")


def table(totals: list[PolicyTotals]) -> str:
    """The figures as a Markdown table (docs/reliability.md quotes it)."""
    rows = [COLUMNS, tuple("---" for _ in COLUMNS)]
    for t in totals:
        rows.append((t.policy, str(t.kills), f"{t.acked:,}", f"{t.lost:,}",
                     f"{t.lost_max_age_s * 1000:.0f}" if t.lost else "-",
                     f"{t.unacked_survivors:,}", f"{t.topics_acked}/{t.topics_lost}",
                     f"{t.commits_lost}/{t.kills}", str(t.lazyfs_retries),
                     str(len(t.problems))))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.reliability.powerloss",
        description="Kill `flymq serve` on LazyFS at random points, drop unsynced data, "
                    "restart and count what acknowledged data was lost, per fsync policy.")
    parser.add_argument("--rounds", type=int, default=20, help="rounds per policy (default 20)")
    parser.add_argument("--cycles", type=int, default=2,
                        help="power losses per round, on one data directory (default 2)")
    parser.add_argument("--policy", action="append", choices=POLICIES,
                        help="fsync policy to test (repeatable; default all three)")
    parser.add_argument("--kill-after", type=float, nargs=2, default=(0.2, 3.0),
                        metavar=("MIN_S", "MAX_S"),
                        help="the kill comes this long after writing starts (default 0.2 3.0)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--cache", default="512mb", help="LazyFS cache size (default 512mb)")
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}; {args.rounds} rounds x {args.cycles} power losses per policy; "
          f"interval window {interval_window_s() * 1000:.0f} ms", flush=True)
    totals = []
    started = time.monotonic()
    for policy in args.policy or POLICIES:
        total = PolicyTotals(policy)
        totals.append(total)
        with LazyFS(args.cache) as fs:  # a fresh cache per policy: pages are never freed
            for n in range(args.rounds):
                try:
                    results = run_round(fs, policy, fs.mount / f"{policy}{n}", rng,
                                        cycles=args.cycles, kill_after_s=tuple(args.kill_after))
                except LazyFSError:  # the cache filled up: start over on a fresh mount
                    fs.stop()
                    fs.start()
                    continue
                for r in results:
                    total.add(r)
                    print(f"{policy} round {n}: acked {r.acked}, lost {r.lost}, topics "
                          f"{r.topics_acked}/{r.topics_lost}, commits {r.commits_acked}"
                          f"{' (last lost)' if r.commit_lost else ''}, LazyFS retries "
                          f"{len(r.quirks)}"
                          + "".join(f"\n  VIOLATION: {p}" for p in r.problems), flush=True)
    print(f"\n{table(totals)}\n\n{time.monotonic() - started:.0f} s, seed {seed}")
    return 1 if any(t.problems for t in totals) else 0


if __name__ == "__main__":
    sys.exit(main())
