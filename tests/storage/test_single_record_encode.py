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
