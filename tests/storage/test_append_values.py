"""The values-only append path: the same bytes as the Record path, used by batch produce."""

from __future__ import annotations

from flymq.broker.appends import AppendRequest
import pytest

from flymq.broker import Broker
from flymq.broker.storage import Record
from flymq.broker.storage.batch import encode_batch, encode_values
from flymq.clock import ManualClock

NOW = 1_700_000_000_123


@pytest.mark.parametrize("n", [1, 2, 1000])
@pytest.mark.parametrize("compression", ["none", "lz4"])
@pytest.mark.parametrize("producer", [(-1, -1, -1), (7, 2, 40)])
def test_encode_values_matches_encode_batch(n, compression, producer):
    values = [b"v%d" % i * (i % 7) for i in range(n)]   # includes empty values
    pid, epoch, seq = producer
    options = dict(producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                   compression=compression)
    fast = encode_values(values, NOW, **options)
    slow = encode_batch([Record(v) for v in values], NOW, **options)
    assert fast == slow        # (body, count, first timestamp, max timestamp)
    stamped = encode_batch([Record(v, timestamp=NOW) for v in values], 5, **options)
    assert fast[0] == stamped[0]


def test_encode_values_flags_and_empty():
    values = [b"a", b"bc"]
    for flags in (dict(transactional=True), dict(control=True)):
        assert encode_values(values, NOW, **flags) == \
            encode_batch([Record(v) for v in values], NOW, **flags)
    with pytest.raises(ValueError):
        encode_values([], NOW)


def test_append_values_writes_the_same_file(open_log, clock):
    batches = [[b"x%d" % i for i in range(k)] for k in (1, 3, 1000, 2)]
    by_records, by_values = open_log("a"), open_log("b")
    for values in batches:
        assert by_records.append([Record(v) for v in values]) == by_values.append_values(values)
        clock.advance(3)
    assert by_values.end_offset == sum(map(len, batches))
    by_records.close()
    by_values.close()
    a = (by_records.directory / "00000000000000000000.log").read_bytes()
    b = (by_values.directory / "00000000000000000000.log").read_bytes()
    assert a == b and a


def test_append_values_stamps_and_reads_back(open_log, clock):
    log = open_log()
    assert log.append_values([b"a", b"b"]) == 0
    assert log.append_values([b"c"], timestamp=42) == 2
    got = log.read(0)
    assert [(r.offset, r.value, r.key, r.timestamp, r.headers, r.expire_at) for r in got] == [
        (0, b"a", None, clock.now_ms(), (), None), (1, b"b", None, clock.now_ms(), (), None),
        (2, b"c", None, 42, (), None)]


def test_append_values_rolls_segments(open_log):
    log = open_log(segment_bytes=1024)
    for i in range(20):
        log.append_values([b"%03d" % i * 100])
    assert log.segment_count > 1
    assert [r.value for r in log.read(0, max_records=100, max_bytes=1 << 20)] == \
        [b"%03d" % i * 100 for i in range(20)]


@pytest.fixture
def broker(tmp_path):
    with Broker(tmp_path / "data", clock=ManualClock(NOW)) as b:
        yield b


def _stored(broker, topic, partition=0):
    return [(r.offset, r.value, r.key, r.timestamp)
            for r in broker._leader(topic, partition).log.read(0, max_records=1000)]


def test_keyless_batch_produce_takes_values_path(broker, monkeypatch):
    from flymq.broker.storage import PartitionLog
    calls = []
    real = PartitionLog.append_values
    monkeypatch.setattr(PartitionLog, "append_values",
                        lambda self, values, **kw: calls.append(len(values)) or
                        real(self, values, **kw))
    broker.create_topic("t")
    broker.produce("t", b"first")
    timestamp, placed = broker.append(AppendRequest("t", [(None, b"a", -1), (None, b"b", 0)]))[:2]
    assert (timestamp, placed) == (NOW, [(0, 1), (0, 2)])
    metas = broker.produce_batch("t", [(None, bytearray(b"c"), -1), (b"", b"d", -1)])
    assert [(m.partition, m.offset, m.timestamp) for m in metas] == [(0, 3, NOW), (0, 4, NOW)]
    assert calls == [2, 2]
    assert [s[:3] for s in _stored(broker, "t")] == [
        (0, b"first", None), (1, b"a", None), (2, b"b", None), (3, b"c", None), (4, b"d", None)]
    assert {s[3] for s in _stored(broker, "t")} == {NOW}


def test_keyed_batch_keeps_record_path(broker):
    broker.create_topic("t")
    broker.append(AppendRequest("t", [(None, b"a", 0), (b"k", b"b", 0)]))
    assert [s[:3] for s in _stored(broker, "t")] == [(0, b"a", None), (1, b"b", b"k")]


def test_keyless_batch_over_partitions(broker):
    broker.create_topic("m", partitions=3)
    records = [(None, b"%d" % i, i % 3 if i % 2 else -1) for i in range(30)]
    _, placed = broker.append(AppendRequest("m", records))[:2]
    stored = {}
    for p in range(3):
        for offset, data, key, ts in _stored(broker, "m", p):
            assert key is None and ts == NOW
            stored[(p, offset)] = data
    assert [stored[p] for p in placed] == [v for _, v, _ in records]


def test_idempotent_keyless_batch(broker):
    broker.create_topic("t")
    pid, epoch = broker.init_producer_id()
    records = [(None, b"a", 0), (None, b"b", 0)]
    first = broker.append(AppendRequest("t", records, producer=(pid, epoch, 0)))[:2]
    again = broker.append(AppendRequest("t", records, producer=(pid, epoch, 0)))[:2]
    assert first == again == (NOW, [(0, 0), (0, 1)])
    third = broker.append(AppendRequest("t", [(None, b"c", 0)], producer=(pid, epoch, 2)))
    assert third.placements == [(0, 2)]
    assert [s[1] for s in _stored(broker, "t")] == [b"a", b"b", b"c"]
