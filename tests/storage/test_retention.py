import pytest

from flymq.broker.storage import Record
from flymq.errors import OffsetOutOfRangeError

HOUR = 3600 * 1000


def test_rolls_by_size(open_log):
    log = open_log(segment_bytes=2048)
    for i in range(40):
        log.append([Record(b"x" * 200)])
    assert log.segment_count > 4
    assert log.read(0, max_records=100)[39].offset == 39


def test_rolls_by_age_on_the_injected_clock(open_log, clock):
    log = open_log(segment_ms=HOUR)
    log.append([Record(b"a")])
    clock.advance(HOUR - 1)
    log.append([Record(b"b")])
    assert log.segment_count == 1
    clock.advance(1)
    log.append([Record(b"c")])
    assert log.segment_count == 2


def test_retention_by_age_moves_start_and_keeps_active(open_log, clock):
    log = open_log(segment_ms=HOUR, retention_ms=2 * HOUR)
    for _ in range(4):
        log.append([Record(b"v")])       # timestamps from the clock
        clock.advance(HOUR)
    assert log.segment_count == 4
    assert log.apply_retention() == 2    # the segments whose newest record is over 2h old
    assert log.start_offset == 2
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0)
    clock.advance(10 * HOUR)
    assert log.apply_retention() == 1
    assert log.segment_count == 1 and log.start_offset == 3   # active segment survives
    assert log.read(3)[0].value == b"v"
    assert log.append([Record(b"w")]) == 4


def test_retention_by_size(open_log):
    log = open_log(segment_bytes=1100, retention_bytes=2500)
    for _ in range(30):
        log.append([Record(b"x" * 200)])
    deleted = log.apply_retention()
    assert deleted > 0
    assert log.size_bytes <= 2500
    assert log.read(log.start_offset)[0].offset == log.start_offset
    assert log.end_offset == 30


def test_retention_survives_reopen(open_log):
    log = open_log(segment_bytes=1100, retention_bytes=2500)
    for _ in range(30):
        log.append([Record(b"x" * 200)])
    log.apply_retention()
    start = log.start_offset
    log.close()
    log = open_log(segment_bytes=1100, retention_bytes=2500)
    assert (log.start_offset, log.end_offset) == (start, 30)


def test_reader_keeps_a_retired_segment_usable(open_log, clock):
    log = open_log(segment_ms=HOUR, retention_ms=HOUR)
    log.append([Record(b"old")])
    clock.advance(2 * HOUR)
    log.append([Record(b"new")])
    seg = log._segments[0]
    seg.pins += 1                        # as a concurrent read holds it
    assert log.apply_retention() == 1
    assert seg.fd >= 0
    log._unpin(seg)
    assert seg.fd == -1
