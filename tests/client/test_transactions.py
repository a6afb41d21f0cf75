"""Transactions through the client, embedded and over TCP: atomic visibility, isolation,
handles, ownership, limits, timeouts and offsets committed with a transaction."""

from __future__ import annotations

import time

import pytest

from flymq import FlyMQClient
from flymq.broker import Broker, BrokerConfig
from flymq.errors import (ConsumerGroupNotFoundError, OffsetOutOfRangeError,
                          TopicNotFoundError, TransactionError,
                          TransactionNotActiveError)


@pytest.fixture
def flymq_broker_config() -> BrokerConfig:
    return BrokerConfig(fsync="never", auto_create_topics=False, max_open_transactions=4,
                        max_transaction_bytes=10_000, transaction_timeout_ms=30_000)


@pytest.fixture
def topics(flymq_broker: Broker) -> None:
    flymq_broker.create_topic("orders", 3)
    flymq_broker.create_topic("payments", 1)
    flymq_broker.create_topic("audit", 2)


def everything(client: FlyMQClient, topic: str) -> list[bytes]:
    """Every value a read-committed reader sees, over all partitions, in partition order."""
    return [m.data for p in range(client.partition_count(topic))
            for m in client.fetch(topic, p, 0, 10_000).messages]


pytestmark = pytest.mark.usefixtures("topics")


def test_commit_makes_every_record_visible_across_topics(client, new_client):
    reader = new_client()
    txn = client.begin_transaction()
    for i in range(6):
        md = txn.produce("orders", f"o{i}".encode())
        assert (md.topic, md.partition, md.offset) == ("orders", 0, 0)  # upstream placeholder
    txn.produce("payments", b"p")
    txn.produce("audit", "a")
    assert everything(reader, "orders") == everything(reader, "payments") == []
    txn.commit()
    assert not txn.active
    assert sorted(everything(reader, "orders")) == [f"o{i}".encode() for i in range(6)]
    assert everything(reader, "payments") == [b"p"]
    assert everything(reader, "audit") == [b"a"]


def test_rollback_discards_and_plain_records_around_it_stay(client, new_client):
    reader = new_client()
    client.produce("payments", b"before")
    txn = client.begin_transaction()
    txn.produce("payments", b"never")
    client.produce("payments", b"during")
    txn.rollback()
    client.produce("payments", b"after")
    assert everything(reader, "payments") == [b"before", b"during", b"after"]
    assert [m.offset for m in reader.fetch("payments", 0, 0, 10).messages] == [0, 1, 2]


def test_interleaved_transactions_and_plain_produces_keep_offset_order(client, new_client):
    reader = new_client()
    expected = []
    for round_ in range(5):
        keep, drop = client.begin_transaction(), client.begin_transaction()
        keep.produce("payments", f"k{round_}".encode())
        drop.produce("payments", f"d{round_}".encode())
        client.produce("payments", f"plain{round_}".encode())
        expected.append(f"plain{round_}".encode())
        drop.rollback()
        keep.commit()
        expected.append(f"k{round_}".encode())
        seen = reader.fetch("payments", 0, 0, 1000).messages
        assert [m.data for m in seen] == expected
        assert [m.offset for m in seen] == sorted(m.offset for m in seen)


def test_context_manager_commits_rolls_back_and_never_commits_twice(client, new_client):
    reader = new_client()
    with client.transaction() as txn:
        txn.produce("payments", b"1")
    assert not txn.active
    with pytest.raises(KeyError):
        with client.transaction() as txn:
            txn.produce("payments", b"2")
            raise KeyError("boom")
    assert not txn.active
    with client.transaction() as txn:  # the body finished it: no second commit
        txn.produce("payments", b"3")
        txn.commit()
    with client.transaction() as txn:
        txn.produce("payments", b"4")
        txn.rollback()
    assert everything(reader, "payments") == [b"1", b"3"]


def test_finished_transactions_refuse_everything(client):
    txn = client.begin_transaction()
    txn.produce("payments", b"x")
    txn.commit()
    for call in (lambda: txn.produce("payments", b"y"), txn.commit, txn.rollback):
        with pytest.raises(TransactionNotActiveError):
            call()
    with pytest.raises(TransactionNotActiveError, match="not active: committed"):
        client.produce_transactional(txn.txn_id, "payments", b"y")
    for end in (client.commit_transaction, client.abort_transaction):
        with pytest.raises(TransactionNotActiveError):
            end(txn.txn_id)
    with pytest.raises(TransactionNotActiveError, match="transaction not found: nope"):
        client.produce_transactional("nope", "payments", b"y")
    with pytest.raises(TransactionNotActiveError):
        client.commit_transaction("nope")


def test_a_transaction_belongs_to_the_connection_that_began_it(client, new_client):
    other = new_client()
    txn = client.begin_transaction()
    txn.flush()                 # over TCP the broker begins it with its first flush
    for call in (lambda: other.produce_transactional(txn.txn_id, "payments", b"x"),
                 lambda: other.commit_transaction(txn.txn_id),
                 lambda: other.abort_transaction(txn.txn_id)):
        with pytest.raises(TransactionError, match="belongs to another session"):
            call()
    txn.produce("payments", b"mine")
    txn.commit()
    assert everything(other, "payments") == [b"mine"]


def test_a_refused_record_fails_the_transaction_until_it_is_rolled_back(client, new_client):
    """Records go to the broker at flush or commit, all or none; once some were refused no
    commit could be whole, so everything but a rollback raises that error again."""
    reader = new_client()
    txn = client.begin_transaction()
    txn.produce("payments", b"ok")
    txn.produce("no-such-topic", b"x")
    with pytest.raises(TopicNotFoundError) as missing:
        txn.flush()
    assert missing.value.hint
    for call in (txn.commit, txn.flush, lambda: txn.produce("payments", b"more")):
        with pytest.raises(TopicNotFoundError):
            call()
    assert txn.active
    txn.rollback()
    assert not txn.active
    assert everything(reader, "payments") == []
    assert reader.list_topics().count("no-such-topic") == 0

    txn = client.begin_transaction()
    txn.produce("payments", b"x" * 20_000)
    with pytest.raises(TransactionError, match="transaction too large") as large:
        txn.commit()                                 # the commit sends the records
    assert "max_transaction_bytes" in large.value.hint
    txn.rollback()
    with client.transaction() as txn:
        txn.produce("payments", b"fine")
    assert everything(reader, "payments") == [b"fine"]


def test_a_failed_commit_leaves_the_transaction_rollback_able(client, flymq_broker):
    flymq_broker.create_topic("doomed", 1)
    txn = client.begin_transaction()
    txn.produce("doomed", b"x")
    flymq_broker.delete_topic("doomed")
    with pytest.raises(Exception):
        txn.commit()
    assert txn.active
    txn.rollback()
    assert not txn.active


def test_too_many_open_transactions_is_a_clear_error(client):
    open_ = [client.begin_transaction() for _ in range(4)]
    for txn in open_:
        txn.flush()             # over TCP the broker begins each with its first flush
    with pytest.raises(TransactionError, match="transaction limit reached"):
        client.begin_transaction().flush()
    open_[0].rollback()
    txn = client.begin_transaction()
    txn.flush()
    txn.rollback()


def test_closing_the_client_aborts_its_open_transactions(new_client, endpoint):
    owner, reader = new_client(), new_client()
    for _ in range(4):
        txn = owner.begin_transaction()
        txn.produce("payments", b"lost")
        txn.flush()
    owner.close()

    def four_more_fit() -> bool:
        try:
            started = [reader.begin_transaction() for _ in range(4)]
        except TransactionError:
            return False
        for txn in started:
            txn.rollback()
        return True
    deadline = time.monotonic() + 5  # over TCP the server notices the close a moment later
    while not four_more_fit():
        assert time.monotonic() < deadline, "the closed session's transactions stayed open"
        time.sleep(0.01)
    assert everything(reader, "payments") == []


def test_an_idle_transaction_is_aborted_after_its_timeout(client, flymq_clock):
    txn = client.begin_transaction()
    txn.produce("payments", b"x")
    flymq_clock.advance(20_000)
    txn.produce("payments", b"y")
    txn.flush()                        # activity the broker sees: the timeout counts from here
    flymq_clock.advance(20_000)
    txn.produce("payments", b"z")
    txn.flush()
    flymq_clock.advance(30_001)
    with pytest.raises(TransactionNotActiveError):
        txn.produce("payments", b"late")  # sent at once where the client reads this clock,
        txn.flush()                       # else here
    with pytest.raises(TransactionNotActiveError, match="active"):
        txn.commit()
    txn.rollback()                     # rolling back an aborted transaction succeeds
    assert not txn.active
    assert everything(client, "payments") == []


def committed(client: FlyMQClient, topic: str, group: str, partition: int) -> int | None:
    try:
        return client.get_committed_offset(topic, group, partition)
    except ConsumerGroupNotFoundError:
        return None


def test_offsets_commit_with_the_transaction_and_only_then(client, new_client):
    for i in range(5):
        client.produce("orders", f"in{i}".encode(), partition=1)
    consumed = client.fetch("orders", 1, 0, 10).messages
    with client.transaction() as txn:
        for m in consumed[:3]:
            txn.produce("payments", m.data.upper())
        txn.send_offsets_to_transaction({("orders", 1): consumed[2].offset + 1}, "etl")
        assert committed(client, "orders", "etl", 1) in (None, 0)
    assert committed(client, "orders", "etl", 1) == 3
    txn = client.begin_transaction()
    txn.produce("payments", b"IN3")
    txn.send_offsets_to_transaction([("orders", 1, 4)], "etl")
    txn.rollback()
    assert committed(client, "orders", "etl", 1) == 3
    assert everything(new_client(), "payments") == [b"IN0", b"IN1", b"IN2"]


def test_supports_transactions(client):
    assert client.supports("transactions")


def test_no_read_path_delivers_open_or_aborted_data(client, flymq_broker):
    """consume, fetch (FETCH_EX over TCP), subscribe and the high-level consumer, embedded and
    over TCP, around a commit in flight and an aborted transaction's data."""
    from flymq.broker.storage import Record
    leader = flymq_broker._leader("payments", 0)
    leader.begin_transactional(900)                      # aborted below
    leader.append_transactional([Record(b"aborted")], 900, 0)
    client.produce("payments", b"plain-1")
    leader.end_transactional(900, 0, False)
    leader.begin_transactional(901)                      # a commit in flight
    leader.append_transactional([Record(b"in-flight")], 901, 0)
    client.produce("payments", b"plain-2")               # behind it: not readable yet
    assert [m.data for m in client.fetch("payments", 0, 0, 100).messages] == [b"plain-1"]
    assert client.consume("payments", 1, 0).data == b"plain-1"
    for offset in (0, 2, 3, 4):                          # aborted, marker, in flight, behind
        with pytest.raises(OffsetOutOfRangeError):
            client.consume("payments", offset, 0)
    assert client.subscribe("payments", "", 0, "latest") == 3   # the last stable offset
    consumer = client.consumer("payments", "reader", auto_offset_reset="earliest")
    try:
        assert [m.data for m in consumer.poll(timeout_ms=200)] == [b"plain-1"]
        leader.end_transactional(901, 0, True)
        seen = []
        for _ in range(20):
            seen += [m.data for m in consumer.poll(timeout_ms=100)]
            if len(seen) >= 2:
                break
        assert seen == [b"in-flight", b"plain-2"]
    finally:
        consumer.close()


@pytest.mark.parametrize("endpoint", ["local"], indirect=True)  # the client reads this clock
def test_records_waiting_a_second_go_to_the_broker_with_the_next_produce(client, flymq_clock):
    """A produce FLUSH_AGE_MS after the broker last heard of the transaction sends the
    buffer, so the broker's idle timeout (30 s here) counts from the client's activity."""
    from flymq.client.transaction import FLUSH_AGE_MS
    txn = client.begin_transaction()
    for _ in range(3):
        txn.produce("payments", b"x")
        flymq_clock.advance(20_000)       # each produce sends the one before: never idle
    txn.produce("payments", b"x")
    assert txn.active
    txn.commit()
    assert everything(client, "payments") == [b"x"] * 4
    txn = client.begin_transaction()
    txn.produce("payments", b"y")
    flymq_clock.advance(FLUSH_AGE_MS - 1)
    txn.produce("no-such-topic", b"y")    # not sent yet: the broker heard of it < 1 s ago
    flymq_clock.advance(1)
    with pytest.raises(TopicNotFoundError):
        txn.produce("payments", b"z")     # a second since: this produce sends them
    txn.rollback()
