"""The one-record-with-TTL shortcut of encode_batch writes the bytes the general column
encoder writes, and they read back with their expiry."""

from __future__ import annotations

import pytest

from flymq.broker.storage.batch import _encode_columns, encode_batch
from flymq.broker.storage.record import Record


@pytest.mark.parametrize("value, ts, producer", [
    (b"v", 1_700_000_000_123, (-1, -1, -1)), (b"", 0, (-1, -1, -1)),
    (b"x" * 5000, 5, (7, 1, 42))])
def test_single_ttl_record_matches_the_column_encoder(value, ts, producer):
    record = Record(value, None, ts, (), 1_800_000_000_000)
    pid, epoch, seq = producer
    fast = encode_batch([record], 99, producer_id=pid, producer_epoch=epoch, base_sequence=seq)
    general = _encode_columns([record], 99, 0, pid, epoch, seq)
    assert tuple(fast) == tuple(general)


def test_ttl_record_reads_back_with_its_expiry(tmp_path):
    from flymq.broker.storage import LogConfig, PartitionLog
    with PartitionLog(tmp_path / "p", LogConfig(fsync="never")) as log:
        log.append([Record(b"brief", None, 0, (), 123_456)])
        [r] = log.read(0)
        assert (r.value, r.key, r.expire_at) == (b"brief", None, 123_456)
