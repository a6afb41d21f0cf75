"""Reading runs of one-record batches (single produces), which are decoded in bulk."""

import pytest

from flymq.broker.storage import Record
from flymq.broker.storage.batch import MIN_SINGLE_RUN
from flymq.broker.storage.cache import BATCH_CACHE
from flymq.errors import CorruptRecordError

RUN = 3 * MIN_SINGLE_RUN


def fields(records):
    return [(r.offset, r.value, r.key, r.timestamp, r.headers, r.expire_at, r.transactional)
            for r in records]


def read_all(log, offset=0):
    return log.read(offset, max_records=10**6, max_bytes=1 << 30)


def fill_mixed(log):
    """Runs of look-alike single batches interrupted by every other kind of batch."""
    for i in range(RUN):
        log.append([Record(b"a%03d" % i, timestamp=1000 + i)])
    log.append([Record(b"multi%d" % i) for i in range(5)])
    for i in range(RUN):
        log.append([Record(b"b" * (i % 3 + 1))])                    # sizes vary: one by one
    for i in range(RUN):
        log.append([Record(b"c%03d" % i, key=b"k%d" % i)])          # keys: one by one
    log.append([Record(b"h", headers=(("x", b"y"),), expire_at=5)])
    for i in range(RUN):
        log.append([Record(b"t%03d" % i)], transactional=True)
    for i in range(RUN):
        log.append([Record(b"d%03d" % i)])
    log.append([Record(b"e%03d" % i) for i in range(3)], compression="lz4")


@pytest.fixture
def mixed(open_log):
    log = open_log()
    fill_mixed(log)
    expected = fields(read_all(log))
    BATCH_CACHE.clear()
    return log, expected


def test_mixed_runs_read_back_exactly(mixed):
    log, expected = mixed
    assert [o for o, *_ in expected] == list(range(log.end_offset))
    assert expected[:2] == [(0, b"a000", None, 1000, (), None, False),
                            (1, b"a001", None, 1001, (), None, False)]
    assert [t for *_, t in expected].count(True) == RUN
    BATCH_CACHE.clear()
    assert fields(read_all(log)) == expected      # from the file, then from the cache
    assert fields(read_all(log)) == expected


@pytest.mark.parametrize("max_records", [1, 3, MIN_SINGLE_RUN + 1, 1000])
def test_reads_starting_anywhere_with_record_limits(mixed, max_records):
    log, expected = mixed
    for offset in range(0, log.end_offset, 5):
        got = fields(log.read(offset, max_records=max_records, max_bytes=1 << 30))
        assert got == expected[offset:offset + max_records]


def test_byte_limits_count_whole_batches(mixed):
    log, expected = mixed
    one = len(log.read_runs(0, 1)[0].batch.values[0]) + 60       # a one-record batch
    for n in (1, 2, MIN_SINGLE_RUN, RUN - 1):
        got = fields(log.read(0, max_records=1000, max_bytes=n * one))
        assert got == expected[:n]
    assert fields(log.read(0, max_records=1000, max_bytes=1)) == expected[:1]


def test_a_run_cached_whole_is_served_from_any_offset_in_it(open_log):
    log = open_log()
    for i in range(RUN):
        log.append([Record(b"v%03d" % i)])
    BATCH_CACHE.clear()
    assert [r.value for r in read_all(log)] == [b"v%03d" % i for i in range(RUN)]
    assert len(BATCH_CACHE) == 1
    assert [log.read(i, 1)[0].value for i in range(RUN)] == [b"v%03d" % i for i in range(RUN)]


def test_truncate_inside_a_cached_run_never_returns_stale_records(open_log):
    log = open_log()
    for i in range(RUN):
        log.append([Record(b"old%03d" % i)])
    assert len(read_all(log)) == RUN
    log.truncate(RUN // 2)
    for i in range(RUN):
        log.append([Record(b"new%03d" % i)])
    want = [b"old%03d" % i for i in range(RUN // 2)] + [b"new%03d" % i for i in range(RUN)]
    assert [r.value for r in read_all(log)] == want
    assert [r.value for r in read_all(log, RUN // 2 + 3)] == want[RUN // 2 + 3:]


def corrupt(tmp_path, pos):
    path = next((tmp_path / "p").glob("*.log"))
    data = bytearray(path.read_bytes())
    data[pos] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", [-1, 20, 8, 0, 12, 17, 40, 57],
                         ids=["value", "timestamp", "length", "base", "crc", "attributes",
                              "producer", "value size"])
def test_corruption_in_the_middle_of_a_run_is_reported(open_log, tmp_path, where):
    log = open_log()
    for i in range(RUN):
        log.append([Record(b"v%03d" % i)])
    size = log.size_bytes // RUN
    bad = RUN // 2
    corrupt(tmp_path, (bad + 1) * size - 1 if where < 0 else bad * size + where)
    BATCH_CACHE.clear()
    want = [b"v%03d" % i for i in range(RUN)]
    assert [r.value for r in read_all(log)] == want[:bad]  # the records before the damage
    assert [r.value for r in log.read(bad - 2, max_records=5)] == want[bad - 2:bad]
    with pytest.raises(CorruptRecordError) as caught:  # then the damage itself, exactly
        log.read(bad)
    assert (caught.value.first_offset, caught.value.end_offset) == (bad, bad + 1)
    assert caught.value.position == bad * size and caught.value.end_position == (bad + 1) * size
    assert [r.value for r in read_all(log, bad + 1)] == want[bad + 1:]  # a reader may skip it


def test_a_run_ends_where_the_producer_or_the_offsets_change(open_log):
    log = open_log()
    producers = [-1] * RUN + [7] * RUN + [8] * 3 + [-1] * RUN
    for i, pid in enumerate(producers):
        log.append([Record(b"v%03d" % i)], producer_id=pid)
    BATCH_CACHE.clear()
    got = read_all(log)
    assert [(r.offset, r.value, r.producer_id) for r in got] == \
        [(i, b"v%03d" % i, pid) for i, pid in enumerate(producers)]
    for start in (0, RUN - 2, RUN + 1, 2 * RUN + 1):
        BATCH_CACHE.clear()
        assert [r.producer_id for r in log.read(start, max_records=RUN)] == \
            producers[start:start + RUN]


def test_broker_fetch_of_single_produces(tmp_path):
    from flymq.broker.broker import Broker
    from flymq.broker.config import BrokerConfig

    with Broker(tmp_path / "b", BrokerConfig(fsync="never")) as broker:
        broker.create_topic("t")
        for i in range(RUN):
            broker.produce("t", b"m%03d" % i, headers={"n": str(i)} if i == 5 else None)
        BATCH_CACHE.clear()
        got = broker.fetch("t", 0, 0, 10_000)
        assert [m.value for m in got] == [b"m%03d" % i for i in range(RUN)]
        assert got.next_offset == RUN and got.messages[5].headers == {"n": "5"}
        part = broker.fetch("t", 0, 7, 10_000, max_bytes=4 * 64)   # 64 bytes per batch
        assert [m.offset for m in part] == [7, 8, 9, 10] and part.next_offset == 11
