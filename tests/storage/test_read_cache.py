"""The decoded-batch cache and the columnar batch layout: never stale, never unchecked."""

import pytest

from flymq.broker.storage import Record
from flymq.broker.storage.cache import BATCH_CACHE, BatchCache
from flymq.errors import CorruptRecordError


def values(log, offset=0):
    return [r.value for r in log.read(offset, max_records=10**6, max_bytes=1 << 30)]


def test_mixed_columns_round_trip(open_log):
    log = open_log()
    recs = [Record(b"a"), Record(b"", key=b"", timestamp=5), Record(b"c", key=b"k", expire_at=9,
                                                                  headers=(("h", b"v"),))]
    log.append(recs)
    got = log.read(0)
    assert [(r.value, r.key, r.timestamp, r.headers, r.expire_at) for r in got] == [
        (b"a", None, got[0].timestamp, (), None), (b"", b"", 5, (), None),
        (b"c", b"k", got[0].timestamp, (("h", b"v"),), 9)]


def test_consume_one_by_one_is_served_from_the_cache(open_log):
    log = open_log()
    log.append([Record(b"%d" % i) for i in range(100)])
    BATCH_CACHE.clear()
    assert [log.read(i, 1)[0].value for i in range(100)] == [b"%d" % i for i in range(100)]
    assert len(BATCH_CACHE) == 1


def test_truncate_never_leaves_stale_batches(open_log):
    log = open_log()
    log.append([Record(b"old%d" % i) for i in range(10)])
    assert values(log)[-1] == b"old9"
    log.truncate(5)
    log.append([Record(b"new%d" % i) for i in range(10)])
    assert values(log) == [b"old%d" % i for i in range(5)] + [b"new%d" % i for i in range(10)]
    assert values(log, 7) == [b"new%d" % i for i in range(2, 10)]


def test_retention_and_delete_never_leave_stale_batches(open_log, clock):
    log = open_log(segment_bytes=1024, retention_ms=1000)
    for i in range(6):
        log.append([Record(b"v%d" % i * 300)])
    assert len(values(log)) == 6
    clock.advance(2000)
    assert log.apply_retention() > 0 and log.start_offset > 0
    assert values(log, log.start_offset) == [b"v%d" % i * 300 for i in range(log.start_offset, 6)]
    log.delete()
    log = open_log()
    log.append([Record(b"fresh")])
    assert values(log) == [b"fresh"]


def test_corruption_is_reported_not_returned(open_log, tmp_path):
    log = open_log()
    log.append([Record(b"x" * 50) for _ in range(10)])
    BATCH_CACHE.clear()
    path = next((tmp_path / "p").glob("*.log"))
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    for offset in (0, 9):
        with pytest.raises(CorruptRecordError) as caught:
            log.read(offset)
        assert (caught.value.first_offset, caught.value.end_offset) == (0, 10)


def test_cache_is_bounded_by_bytes(open_log):
    log = open_log()
    log.append([Record(b"y" * 1000), Record(b"z")])
    batch = log.read_runs(0)[0].batch
    cache = BatchCache(max_bytes=5 * (batch.size + 2 * 64))
    for i in range(20):
        cache.put(i, batch)
    assert len(cache) == 5 and cache.get(0) is None and cache.get(19) is batch
