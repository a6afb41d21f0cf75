"""The transaction coordinator and the partitions' read path: last stable offset, aborted
data, markers, recovery from the transaction log, limits and compaction."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.broker.storage import Record
from flymq.broker.transactions import TransactionCoordinator
from flymq.errors import OffsetOutOfRangeError, TransactionError, TransactionNotActiveError
from flymq.topic_config import TopicConfig


class Crash(BaseException):
    """Stands for kill -9 at one point of a commit (nothing after it runs)."""


def values(b: Broker, topic: str, **kwargs) -> list[bytes]:
    """Every record a reader sees, partition after partition."""
    out = []
    for p in range(b.partition_count(topic)):
        offset = 0
        while (got := b.fetch(topic, p, offset, 10_000, **kwargs)).next_offset != offset:
            out += [m.data for m in got.messages]
            offset = got.next_offset
    return out


def test_a_commit_in_flight_holds_readers_at_the_last_stable_offset(broker: Broker) -> None:
    broker.create_topic("t", 1)
    broker.produce("t", b"a")
    leader = broker._leader("t", 0)
    assert leader.begin_transactional(1000) == 1
    leader.append_transactional([Record(b"tx")], 1000, 0)
    broker.produce("t", b"plain")                 # offset 2: written, not yet readable
    assert values(broker, "t") == [b"a"]
    assert broker.offsets("t", 0) == (0, 1)
    assert broker.fetch("t", 0, 1, 10).next_offset == 1
    for offset in (1, 2):
        with pytest.raises(OffsetOutOfRangeError):
            broker.consume("t", 0, offset)
    assert values(broker, "t", read_uncommitted=True) == [b"a", b"tx", b"plain"]
    leader.end_transactional(1000, 0, True)        # the commit marker takes offset 3
    assert values(broker, "t") == [b"a", b"tx", b"plain"]
    assert broker.consume("t", 0, 1).data == b"tx"
    with pytest.raises(OffsetOutOfRangeError):
        broker.consume("t", 0, 3)                  # markers are never delivered
    assert broker.fetch("t", 0, 3, 10).next_offset == 4
    assert values(broker, "t", read_uncommitted=True) == [b"a", b"tx", b"plain"]


def test_aborted_data_is_skipped_unless_reading_uncommitted(broker: Broker) -> None:
    broker.create_topic("t", 1)
    leader = broker._leader("t", 0)
    leader.begin_transactional(7)
    leader.append_transactional([Record(b"x1"), Record(b"x2")], 7, 0)
    broker.produce("t", b"plain")
    leader.end_transactional(7, 0, False)
    assert values(broker, "t") == [b"plain"]
    assert [m.offset for m in broker.fetch("t", 0, 0, 10).messages] == [2]
    with pytest.raises(OffsetOutOfRangeError):
        broker.consume("t", 0, 0)
    assert values(broker, "t", read_uncommitted=True) == [b"x1", b"x2", b"plain"]


def test_a_long_poll_wakes_when_the_stable_offset_moves(broker: Broker) -> None:
    broker.create_topic("t", 1)
    leader = broker._leader("t", 0)
    leader.begin_transactional(5)
    leader.append_transactional([Record(b"x")], 5, 0)
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(
        broker.fetch("t", 0, 0, 10, max_wait_ms=5000)))
    waiter.start()
    leader.end_transactional(5, 0, True)
    waiter.join(5)
    assert [m.data for m in got[0].messages] == [b"x"]


def test_broker_append_with_a_transaction_id_buffers_until_commit(broker: Broker) -> None:
    from flymq.broker.appends import AppendRequest
    broker.create_topic("t", 2)
    txn = broker.begin_transaction()
    result = broker.append(AppendRequest("t", [(b"k", b"v1", -1), (None, b"v2", 1)],
                                         transaction_id=txn))
    assert result.placements == [(0, 0), (0, 0)]
    assert values(broker, "t") == []
    broker.commit_transaction(txn)
    assert sorted(values(broker, "t")) == [b"v1", b"v2"]
    assert broker.fetch("t", 1, 0, 10).messages[-1].data == b"v2"


def _crash_on(monkeypatch: pytest.MonkeyPatch, kind: bytes) -> None:
    """Make the coordinator 'die' right before it logs a change of ``kind``."""
    real = TransactionCoordinator._write

    def write(self, *changes: bytes) -> None:
        if any(c.startswith(b'["' + kind) for c in changes):
            raise Crash()
        real(self, *changes)
    monkeypatch.setattr(TransactionCoordinator, "_write", write)
    monkeypatch.setattr(TransactionCoordinator, "_abort_written", lambda *args: None)


def test_a_commit_without_its_decision_is_aborted_on_open(flymq_data_dir: Path, clock,
                                                          monkeypatch) -> None:
    config = BrokerConfig(fsync="never")
    with Broker(flymq_data_dir, config, clock=clock) as b:
        b.create_topic("a", 2)
        b.create_topic("b", 1)
        done = b.begin_transaction()
        b.produce_transactional(done, "a", b"kept")
        b.commit_transaction(done)
        txn = b.begin_transaction()
        for v in (b"x", b"y", b"z"):
            b.produce_transactional(txn, "a", v)
        b.produce_transactional(txn, "b", b"w")
        _crash_on(monkeypatch, b"C")
        with pytest.raises(Crash):
            b.commit_transaction(txn)
        assert values(b, "a", read_uncommitted=True).count(b"x") == 1   # data was written
        monkeypatch.undo()
    with Broker(flymq_data_dir, config, clock=clock) as b:
        assert values(b, "a") == [b"kept"] and values(b, "b") == []
        assert sorted(values(b, "a", read_uncommitted=True)) == [b"kept", b"x", b"y", b"z"]
        again = b.begin_transaction()
        b.produce_transactional(again, "b", b"new")
        b.commit_transaction(again)                      # a fresh producer id: visible
        assert values(b, "b") == [b"new"]
    with Broker(flymq_data_dir, config, clock=clock) as b:   # and it stays that way
        assert values(b, "a") == [b"kept"] and values(b, "b") == [b"new"]


def test_a_decided_commit_is_rolled_forward_with_its_offsets(flymq_data_dir: Path, clock,
                                                            monkeypatch) -> None:
    config = BrokerConfig(fsync="never")
    with Broker(flymq_data_dir, config, clock=clock) as b:
        b.create_topic("in", 1)
        b.create_topic("out", 3)
        txn = b.begin_transaction()
        for i in range(6):
            b.produce_transactional(txn, "out", b"%d" % i)
        b.send_offsets_to_transaction(txn, "g", [("in", 0, 42)])
        def crash(*args: object) -> None:
            raise Crash()
        monkeypatch.setattr(TransactionCoordinator, "_apply_offsets", crash)
        monkeypatch.setattr("flymq.broker.partition.PartitionLeader.end_transactional",
                            lambda *a, **k: None)              # no marker, still pending
        with pytest.raises(Crash):
            b.commit_transaction(txn)
        monkeypatch.undo()
    with Broker(flymq_data_dir, config, clock=clock) as b:
        assert sorted(values(b, "out")) == [b"%d" % i for i in range(6)]
        assert b.get_committed_offset("in", "g", 0) == 42


def test_recovery_aborts_thousands_of_undecided_commits(flymq_data_dir: Path, clock,
                                                       monkeypatch) -> None:
    config = BrokerConfig(fsync="never")
    with Broker(flymq_data_dir, config, clock=clock) as b:
        b.create_topic("t", 4)
        _crash_on(monkeypatch, b"C")
        for i in range(2000):   # two records: two partitions, so a two-phase commit
            txn = b.begin_transaction()
            b.produce_transactional(txn, "t", b"%d" % i)
            b.produce_transactional(txn, "t", b"%d" % i)
            with pytest.raises(Crash):
                b.commit_transaction(txn)
            b.abort_transaction(txn)
        monkeypatch.undo()
    with Broker(flymq_data_dir, config, clock=clock) as b:
        assert values(b, "t") == []
        assert len(values(b, "t", read_uncommitted=True)) == 4000
        assert sum(len(b._leader("t", p).txns.aborted) for p in range(4)) == 4000


def test_the_transaction_log_stays_as_small_as_its_live_state(broker: Broker) -> None:
    broker.create_topic("t", 2)
    for i in range(6000):   # two partitions each: two-phase commits, logged
        txn = broker.begin_transaction()
        broker.produce_transactional(txn, "t", b"v")
        broker.produce_transactional(txn, "t", b"v")
        broker.commit_transaction(txn)
    assert broker._transactions._log.end_offset < 10_000
    assert len(values(broker, "t")) == 12_000


def test_the_buffer_of_all_open_transactions_is_bounded(tmp_path: Path, clock) -> None:
    config = BrokerConfig(fsync="never", transaction_buffer_bytes=50_000,
                          max_transaction_bytes=40_000)
    with Broker(tmp_path, config, clock=clock) as b:
        first, second = b.begin_transaction(), b.begin_transaction()
        b.produce_transactional(first, "t", b"x" * 30_000)
        with pytest.raises(TransactionError, match="transaction buffer full") as full:
            b.produce_transactional(second, "t", b"x" * 30_000)
        assert "transaction_buffer_bytes" in full.value.hint
        b.abort_transaction(first)
        b.produce_transactional(second, "t", b"x" * 30_000)
        b.commit_transaction(second)


def test_transaction_timeouts_are_bounded(broker: Broker) -> None:
    from flymq.errors import InvalidRequestError
    with pytest.raises(InvalidRequestError, match="invalid transaction timeout"):
        broker.begin_transaction(timeout_ms=broker.config.transaction_max_timeout_ms + 1)
    with pytest.raises(ValueError, match="transaction_timeout_ms"):
        BrokerConfig(transaction_timeout_ms=10, transaction_max_timeout_ms=5)


def test_a_commit_is_not_timed_out_while_it_runs(broker: Broker, clock, monkeypatch) -> None:
    broker.create_topic("t", 1)
    txn = broker.begin_transaction(timeout_ms=1000)
    broker.produce_transactional(txn, "t", b"v")
    leader = broker._leader("t", 0)
    real = leader.wait_durable

    def slow(end: int) -> None:
        clock.advance(5000)           # the timeout passes while the commit waits on the disk
        real(end)
    monkeypatch.setattr(leader, "wait_durable", slow)
    broker.commit_transaction(txn)
    assert values(broker, "t") == [b"v"]
    with pytest.raises(TransactionNotActiveError, match="committed"):
        broker.produce_transactional(txn, "t", b"late")


def test_a_one_partition_commit_is_one_batch_unless_fsync_is_always(tmp_path: Path,
                                                                     clock) -> None:
    """One-phase commit: no transaction-log record, no marker; under fsync=always the
    two-phase path, whose marker follows the data."""
    with Broker(tmp_path, BrokerConfig(fsync="interval"), clock=clock) as b:
        b.create_topic("one", 1)
        b.create_topic("sync", 1, config=TopicConfig(fsync="always"))
        log_end = b._transactions._log.end_offset
        for topic in ("one", "sync"):
            txn = b.begin_transaction()
            for v in (b"a", b"b", b"c"):
                b.produce_transactional(txn, topic, v)
            b.commit_transaction(txn)
            assert values(b, topic) == [b"a", b"b", b"c"]
        assert b.offsets("one", 0) == (0, 3)
        assert b.offsets("sync", 0)[1] == 4                 # the commit marker
        assert b._transactions._log.end_offset == log_end + 2   # PREPARE and COMMIT of "sync"
    with Broker(tmp_path, BrokerConfig(fsync="interval"), clock=clock) as b:
        assert values(b, "one") == values(b, "sync") == [b"a", b"b", b"c"]


def test_a_client_picked_transaction_id_is_checked_and_never_reused(broker: Broker) -> None:
    from flymq.errors import InvalidRequestError
    from flymq.txn_ids import new_client_txn_id
    broker.create_topic("t", 1)
    picked = new_client_txn_id()
    broker.produce_transactional_batch(picked, [("t", b"v")], commit=True, begin=True)
    assert values(broker, "t") == [b"v"]
    with pytest.raises(TransactionError, match="transaction id in use"):
        broker.produce_transactional_batch(picked, [("t", b"w")], begin=True)
    for bad in ("txn-1", "ctx-XYZ", picked + "0"):
        with pytest.raises(InvalidRequestError, match="invalid transaction id"):
            broker.begin_transaction(txn_id=bad)
    assert values(broker, "t") == [b"v"]
