"""Opening a log costs memory per segment, never per record: retained data does not load."""

from __future__ import annotations

import tracemalloc

from flymq.broker.storage import Record


def _fill(log, records: int) -> None:
    batch = [Record(b"v" * 10)] * 1000
    for _ in range(records // 1000):
        log.append(batch)


def _open_cost(open_log, name: str, records: int) -> int:
    """Bytes still allocated by opening (and recovering) a closed log of ``records``."""
    log = open_log(name, segment_bytes=4 * 1024 * 1024)
    _fill(log, records)
    segments = log.segment_count
    log.close()
    tracemalloc.start()
    try:
        reopened = open_log(name, segment_bytes=4 * 1024 * 1024)
        cost, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reopened.end_offset == records and reopened.segment_count == segments
    return cost


def test_open_memory_does_not_grow_with_retained_records(open_log) -> None:
    small = _open_cost(open_log, "small", 20_000)
    large = _open_cost(open_log, "large", 400_000)   # 20x the records, ~4x the segments
    # a per-record structure would cost at least 20 MB here; per-segment state is a few KB
    assert large < small + 200_000, (small, large)
