"""The single-record shortcut of encode_batch writes exactly the bytes of the general path."""

from __future__ import annotations

import pytest

from flymq.broker.storage.batch import (ATTR_TRANSACTIONAL, MAX_BATCH_BYTES, _encode_columns,
                                        encode_batch)
from flymq.broker.storage.record import Record

CASES = [
    Record(b"v" * 100),
    Record(b""),
    Record(b"value", b"key"),
    Record(b"value", b""),
    Record(b"value", None, 1234),
    Record(b"value", b"k", 99, (("h", b"1"),)),       # general path inside encode_batch too
    Record(b"value", None, 0, (), 5_000),
    Record(bytearray(b"mutable"), memoryview(b"k")),
]


@pytest.mark.parametrize("record", CASES)
@pytest.mark.parametrize("producer", [(-1, -1, -1), (7, 2, 41)])
@pytest.mark.parametrize("attrs", [0, ATTR_TRANSACTIONAL])
def test_single_record_bytes_match_the_general_encoder(record, producer, attrs):
    fast = encode_batch([record], 1_700_000_000_000, producer_id=producer[0],
                        producer_epoch=producer[1], base_sequence=producer[2],
                        transactional=bool(attrs))
    slow = _encode_columns([record], 1_700_000_000_000, attrs, *producer)
    assert fast == slow        # (body, count, first timestamp, max timestamp)


def test_single_record_roundtrips_through_a_log(tmp_path):
    from flymq.broker.storage import PartitionLog

    log = PartitionLog(tmp_path / "p")
    try:
        log.append([Record(b"a")])
        log.append([Record(b"b", b"k", 5)])
        got = log.read(0)
        assert [(r.key, r.value) for r in got] == [(None, b"a"), (b"k", b"b")]
        assert got[1].timestamp == 5
    finally:
        log.close()


def test_single_record_size_limit(monkeypatch):
    import flymq.broker.storage.batch as batch

    monkeypatch.setattr(batch, "MAX_BATCH_BYTES", 100)
    with pytest.raises(ValueError, match="exceeds the limit"):
        batch.encode_batch([Record(b"x" * 200)], 1)
    assert MAX_BATCH_BYTES == 1 << 30


@pytest.mark.parametrize("compression", ["none", "lz4"])
def test_append_record_writes_the_bytes_of_append(tmp_path, compression):
    """The single produce's path (``append_record``: no record tuple) and ``append`` of the
    same records leave identical log files, in either codec (lz4 takes the general path)."""
    from flymq.broker.storage import LogConfig, PartitionLog

    cases = [(b"v" * 100, None, 5, None), (b"value", b"key", 6, None),
             (b"value", None, 7, 9_000), (b"value", b"k", 8, 9_000), (b"", None, 9, None)]
    logs = [PartitionLog(tmp_path / name, LogConfig(compression=compression))
            for name in ("fast", "slow")]
    try:
        for value, key, ts, expire_at in cases:
            logs[0].append_record(value, key, ts, expire_at, 1, True)
            logs[1].append([Record(value, key, ts, (), expire_at)], now=1)
        files = [sorted((tmp_path / name).glob("*.log"))[0].read_bytes()
                 for name in ("fast", "slow")]
        assert files[0] == files[1]
        assert [(r.value, r.key, r.timestamp, r.expire_at) for r in logs[0].read(0)] == cases
    finally:
        for log in logs:
            log.close()
