import pytest

from flymq.broker.storage import LogRecord, Record
from flymq.errors import OffsetOutOfRangeError


def sample(i):
    return Record(value=b"value-%d" % i, key=None if i % 3 == 0 else b"key-%d" % i,
                  timestamp=1_000 + i, headers=(("h", b"x" * i), ("\u00e9", b"")) if i % 2 else (),
                  expire_at=None if i % 4 else 9_000 + i)


@pytest.mark.parametrize("compression", ["none", "lz4"])
def test_every_field_round_trips(open_log, compression):
    log = open_log(compression=compression)
    records = [sample(i) for i in range(20)]
    assert log.append(records[:7], producer_id=42, producer_epoch=3, base_sequence=9) == 0
    assert log.append(records[7:], transactional=True, control=True) == 7
    got = log.read(0)
    assert [(r.key, r.value, r.timestamp, r.headers, r.expire_at) for r in got] == \
        [(r.key, r.value, r.timestamp, r.headers, r.expire_at) for r in records]
    assert [r.offset for r in got] == list(range(20))
    assert {(r.producer_id, r.transactional, r.control) for r in got[:7]} == {(42, False, False)}
    assert {(r.producer_id, r.transactional, r.control) for r in got[7:]} == {(-1, True, True)}
    assert all(isinstance(r, LogRecord) for r in got)


def test_per_append_compression_overrides_config(open_log):
    log = open_log()
    log.append([Record(b"a" * 1000)] * 50, compression="lz4")
    assert log.size_bytes < 1000
    assert log.read(0)[49].value == b"a" * 1000


def test_zero_timestamp_takes_the_clock(open_log, clock):
    log = open_log()
    log.append([Record(b"v")])
    assert log.read(0)[0].timestamp == clock.now_ms()


def test_read_inside_a_batch_and_limits(open_log):
    log = open_log()
    log.append([Record(b"%d" % i) for i in range(10)])
    log.append([Record(b"%d" % i) for i in range(10, 20)])
    assert [r.offset for r in log.read(4, max_records=3)] == [4, 5, 6]
    assert [r.offset for r in log.read(8, max_records=5)] == [8, 9, 10, 11, 12]
    # max_bytes smaller than one batch still returns that whole batch (from the offset on)
    assert [r.offset for r in log.read(3, max_bytes=1)] == list(range(3, 10))


def test_offset_range_errors(open_log):
    log = open_log()
    assert log.read(0) == []
    with pytest.raises(OffsetOutOfRangeError):
        log.read(1)
    log.append([Record(b"a"), Record(b"b")])
    assert log.read(2) == []
    with pytest.raises(OffsetOutOfRangeError) as info:
        log.read(3)
    assert (info.value.start, info.value.end, info.value.partition) == (0, 2, 0)
    with pytest.raises(OffsetOutOfRangeError):
        log.read(-1)


def test_truncate_inside_a_batch_keeps_earlier_records(open_log):
    log = open_log()
    log.append([Record(b"%d" % i, key=b"k") for i in range(5)], producer_id=7)
    log.append([Record(b"x")])
    log.truncate(3)
    assert log.end_offset == 3
    assert [(r.value, r.producer_id) for r in log.read(0)] == [(b"0", 7), (b"1", 7), (b"2", 7)]
    assert log.append([Record(b"new")]) == 3
    assert log.read(3)[0].value == b"new"
    log.truncate(10)  # past the end: nothing to drop
    assert log.end_offset == 4


def test_reopen_keeps_everything(open_log):
    log = open_log(segment_bytes=2048, index_interval_bytes=128)
    for i in range(100):
        log.append([sample(i)])
    log.close()
    log = open_log(segment_bytes=2048, index_interval_bytes=128)
    assert (log.start_offset, log.end_offset) == (0, 100)
    assert [r.value for r in log.read(0, max_records=1000)] == [b"value-%d" % i for i in range(100)]
    assert log.append([Record(b"next")]) == 100


def test_offset_for_timestamp(open_log):
    log = open_log(segment_bytes=1024, index_interval_bytes=64)
    for i in range(60):
        log.append([Record(b"v", timestamp=1_000 + 10 * i), Record(b"w", timestamp=1_005 + 10 * i)])
    assert log.segment_count > 2
    assert log.offset_for_timestamp(0) == 0
    assert log.offset_for_timestamp(1_005) == 1
    assert log.offset_for_timestamp(1_006) == 2
    assert log.offset_for_timestamp(1_000 + 10 * 37) == 74
    assert log.offset_for_timestamp(10**13) is None


def test_delete_removes_directory(open_log, tmp_path):
    log = open_log()
    log.append([Record(b"a")])
    log.delete()
    assert not (tmp_path / "p").exists()
