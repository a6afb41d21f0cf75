"""Power loss on LazyFS: what each fsync policy keeps, and that recovery never returns a torn
or corrupt record (tools/reliability/powerloss.py runs the same rounds many more times).

The rounds run a real ``flymq serve`` on a LazyFS mount, SIGKILL it at a random moment, drop
every unsynced byte and check what the restarted server holds. They skip, saying why, where
LazyFS cannot run (no ../shared/lazyfs, no FUSE, no fuse3/libfuse3-3, not root). The checks
themselves are tested first, on made-up logs, so that a round that finds nothing means
something.
"""

from __future__ import annotations

import os
import random
from types import SimpleNamespace

import pytest

from flymq import FlyMQClient
from flymq.broker.storage import FsyncPolicy, LogConfig, PartitionLog, Record
from flymq.errors import FlyMQError
from tools.reliability import powerloss as pl
from tools.reliability.lazyfs import LazyFS, LazyFSError, unavailable

KILL_AFTER_S = (0.2, 1.2)


# --- the checks, on made-up logs -------------------------------------------------------------

class FakeClient:
    """What check_cycle reads, from per-partition value lists."""

    def __init__(self, logs: dict[int, list[bytes]], committed: int = 0,
                 topics: tuple[str, ...] = ()):
        self.logs, self.committed, self.topics = logs, committed, list(topics)

    def partition_offsets(self, topic: str, partition: int) -> tuple[int, int]:
        return 0, len(self.logs.get(partition, []))

    def fetch(self, topic: str, partition: int, offset: int, max_messages: int):
        values = self.logs[partition][offset:offset + max_messages]
        return SimpleNamespace(messages=[SimpleNamespace(offset=offset + i, value=v)
                                         for i, v in enumerate(values)])

    def list_topics(self) -> list[str]:
        return self.topics

    def get_committed_offset(self, topic: str, group: str, partition: int) -> int:
        return self.committed


def work_with(acks: list[tuple[int, int, str, int, float]], commits=(), commit_base=0
              ) -> pl.Workload:
    work = pl.Workload("", 0, 0, commit_base)
    work.acks = [pl.Ack(*a) for a in acks]
    work.commits = list(commits)
    work.commits_sent = max((c for c, _ in commits), default=commit_base)
    return work


def check(policy: str, logs, work, killed_at=100.0, survivors=None, committed=0):
    return pl.check_cycle(FakeClient(logs, committed), policy, work, killed_at,
                          {} if survivors is None else survivors, [])


def test_values_are_checked_byte_for_byte():
    value = pl.value_of("c0p0a", 7)
    assert pl.parse_value(value) == ("c0p0a", 7)
    assert pl.parse_value(value[:-1]) is None
    assert pl.parse_value(value[:-1] + bytes([value[-1] ^ 1])) is None
    assert pl.parse_value(b"\0" * len(value)) is None


def test_an_intact_log_passes_and_in_flight_survivors_are_allowed():
    log = [pl.value_of("a", n) for n in range(3)]
    result = check("always", {0: log}, work_with([(0, 0, "a", 0, 99.0), (0, 1, "a", 1, 99.5)]))
    assert (result.problems, result.lost, result.unacked_survivors) == ([], 0, 1)


@pytest.mark.parametrize("damage, finding", [
    (lambda log: log[:1] + log[2:], "a gap or a reordering"),
    (lambda log: log[:1] + [b"\0" * 40] + log[2:], "a value nobody produced"),
    (lambda log: log[:1] + [log[1][:-1] + b"?"] + log[2:], "a value nobody produced"),
])
def test_a_gap_or_a_torn_record_is_a_problem_under_every_policy(damage, finding):
    log = damage([pl.value_of("a", n) for n in range(4)])
    for policy in pl.POLICIES:
        assert any(finding in p for p in check(policy, {0: log}, work_with([])).problems)


def test_lost_acknowledged_records_break_always_and_interval_only_when_old():
    log = [pl.value_of("a", 0)]
    work = work_with([(0, 0, "a", 0, 90.0), (0, 1, "a", 1, 99.9)])   # kill at 100.0
    assert check("always", {0: log}, work).lost_unpromised == 1
    assert check("interval", {0: log}, work).problems == []         # 0.1 s: inside the window
    old = work_with([(0, 0, "a", 0, 90.0), (0, 1, "a", 1, 97.0)])
    assert check("interval", {0: log}, old).lost_unpromised == 1
    never = check("never", {0: []}, old)
    assert (never.problems, never.lost) == ([], 2)


def test_records_that_survived_a_power_loss_must_survive_the_next():
    survivors = {0: [pl.value_of("a", n) for n in range(3)]}
    result = check("never", {0: survivors[0][:2]}, work_with([]), survivors=dict(survivors))
    assert any("survived the previous power loss" in p for p in result.problems)


def test_a_lost_acknowledged_commit_breaks_always():
    work = work_with([], commits=[(1, 90.0), (2, 99.0)])
    assert any("commit of 2 was lost" in p for p in check("always", {}, work, committed=1).problems)
    assert check("always", {}, work, committed=2).problems == []
    assert any("neither the one" in p for p in check("never", {}, work, committed=5).problems)
    after = work_with([], commits=[(8, 99.0)], commit_base=7)   # 7 survived a power loss
    assert check("never", {}, after, committed=7).problems == []
    assert any("neither the one" in p for p in check("never", {}, after, committed=2).problems)


def test_reopening_a_log_makes_no_ftruncate(tmp_path, monkeypatch):
    """LazyFS fails an ftruncate that changes nothing now and then (about one `flymq serve`
    start in six did here), so opening a log that needs no cut makes none."""
    with PartitionLog(tmp_path / "p", LogConfig(fsync=FsyncPolicy.NEVER)) as log:
        log.append([Record(b"x" * 5000) for _ in range(3)])
    cuts: list[int] = []
    real = os.ftruncate
    monkeypatch.setattr(os, "ftruncate", lambda fd, size: cuts.append(size) or real(fd, size))
    with PartitionLog(tmp_path / "p", LogConfig(fsync=FsyncPolicy.NEVER)) as log:
        assert log.end_offset == 3
    assert cuts == []


# --- on LazyFS -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lazyfs():
    reason = unavailable()
    if reason:
        pytest.skip(f"power-loss tests need LazyFS: {reason}")
    try:
        fs = LazyFS("256mb")
        fs.start()
    except LazyFSError as exc:
        pytest.skip(f"power-loss tests need LazyFS, which cannot mount here: {exc}")
    yield fs
    fs.close()


def assert_rounds(fs: LazyFS, policy: str, name: str, rounds: int, seed: int
                  ) -> list[pl.CycleResult]:
    rng = random.Random(seed)
    results = []
    for n in range(rounds):
        results += pl.run_round(fs, policy, fs.mount / f"{name}{n}", rng, cycles=2,
                                kill_after_s=KILL_AFTER_S)
    problems = [p for r in results for p in r.problems]
    assert problems == [], f"seed {seed}: {problems[:5]}"
    assert all(r.acked for r in results), "a round acknowledged nothing: it tested nothing"
    return results


@pytest.mark.timeout(120)
def test_always_loses_nothing_acknowledged(lazyfs):
    results = assert_rounds(lazyfs, "always", "a", 2, seed=random.randrange(1 << 30))
    assert sum(r.lost for r in results) == 0
    assert sum(r.topics_lost for r in results) == 0
    assert not any(r.commit_lost for r in results)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("policy", ["interval", "never"])
def test_interval_loses_at_most_its_window_and_no_policy_tears_a_record(lazyfs, policy):
    assert_rounds(lazyfs, policy, policy[0], 1, seed=random.randrange(1 << 30))


@pytest.mark.timeout(120)
def test_the_rounds_catch_a_broker_that_does_not_fsync(lazyfs):
    """A server that never fsyncs (segments too big to roll), checked against the promise
    of always: the round must see acknowledged records go."""
    results = pl.run_round(lazyfs, "always", lazyfs.mount / "mut", random.Random(5), cycles=1,
                           kill_after_s=(0.5, 0.8), served_policy="never",
                           segment_bytes=64 << 20)
    assert results[0].lost_unpromised > 0


def produce_until_refused(client: FlyMQClient, segment, acked: list[bytes], limit: int = 200
                          ) -> int:
    """Produce one record at a time until the broker refuses one, adding the acknowledged
    values to ``acked``; the segment's size after the last of them."""
    for n in range(len(acked), limit):
        size = segment.stat().st_size
        value = pl.value_of("torn", n)
        try:
            assert client.produce("t", value) == n
        except FlyMQError:
            return size
        acked.append(value)
    raise AssertionError(f"no append failed in {limit} tries: the torn write never happened")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("persist, name", [((1, 3), "x"), ((1,), "y"), ((2, 3), "z")])
def test_a_torn_append_is_cut_and_the_acknowledged_records_stay(lazyfs, persist, name):
    """LazyFS tears the next append to the segment (keeping only some thirds of it) and dies
    mid-write: under always every acknowledged record survives, the torn tail is cut at
    recovery, never returned, and the log takes appends again."""
    data = lazyfs.mount / name   # a short name: LazyFS fault commands hold the whole path
    segment = data / "topics" / "t" / "0" / "00000000000000000000.log"
    args = ("--port", "0", "--data-dir", str(data), "--fsync", "always")
    quirks: list[str] = []
    with pl.serve(quirks, *args) as server:
        with FlyMQClient(server.bootstrap, max_retries=0) as client:
            acked = [pl.value_of("torn", 0)]
            pl.retrying(lambda: client.produce("t", acked[0]), quirks)   # opens the partition
            lazyfs.tear_next_write(segment, 3, persist)
            acked_size = produce_until_refused(client, segment, acked)
        server.kill()
    lazyfs.wait_crashed()
    assert os.path.getsize(lazyfs.root_path(segment)) > acked_size, "no torn tail was left"
    lazyfs.start()
    with pl.serve(quirks, *args) as server:
        with FlyMQClient(server.bootstrap, max_retries=0) as client:
            stored = pl.retrying(lambda: client.fetch("t", 0, 0, 1000).messages, quirks)
            assert [bytes(m.value) for m in stored] == acked
            assert segment.stat().st_size == acked_size     # the torn tail is cut
            assert client.produce("t", b"after") == len(acked)
            assert bytes(client.fetch("t", 0, len(acked), 10).messages[0].value) == b"after"
