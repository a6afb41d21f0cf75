"""A failed fsync fails the log for writes, for good: the OS may have dropped the unsynced pages
while marking them clean, so a retried fsync could "succeed" and acknowledge lost data."""

from __future__ import annotations

import pytest

from flymq.broker.storage import FsyncPolicy, Record
from flymq.errors import FsyncFailedError, StorageError


def _values(log) -> list[bytes]:
    return [r.value for r in log.read(0, 100)]


def test_interval_flush_failure_refuses_writes_and_keeps_reads(open_log, flusher, disk):
    log = open_log(fsync=FsyncPolicy.INTERVAL)
    for v in (b"a", b"b", b"c"):
        log.append([Record(v)])
    disk.break_disk()
    flusher.flush_due(now=10**12)
    assert log.failed
    assert any(isinstance(e, FsyncFailedError) for e in flusher.errors)
    with pytest.raises(FsyncFailedError) as info:
        log.append([Record(b"d")])
    assert isinstance(info.value, StorageError) and "t/0" in str(info.value)
    assert info.value.hint and "restart" in info.value.hint
    assert _values(log) == [b"a", b"b", b"c"]
    assert not log.needs_flush()  # the flusher does not retry
    disk.repair()
    with pytest.raises(FsyncFailedError):  # a working fsync later does not revive the log
        log.append([Record(b"d")])


def test_always_policy_never_acknowledges_after_a_failed_fsync(open_log, disk):
    log = open_log(fsync=FsyncPolicy.ALWAYS)
    disk.break_disk()
    with pytest.raises(FsyncFailedError):
        log.append([Record(b"lost?")])
    disk.repair()
    with pytest.raises(FsyncFailedError):
        log.append([Record(b"next")])
    with pytest.raises(FsyncFailedError):
        log.wait_durable(1)


def test_reopening_a_failed_log_recovers_it(open_log, disk):
    log = open_log("q", fsync=FsyncPolicy.ALWAYS)
    log.append([Record(b"kept")])
    disk.break_disk()
    with pytest.raises(FsyncFailedError):
        log.append([Record(b"x")])
    disk.repair()
    log.close()   # no fsync and no checkpoint after the failure; must not raise
    again = open_log("q", fsync=FsyncPolicy.ALWAYS)
    assert not again.failed
    offset = again.append([Record(b"y")])
    values = _values(again)
    assert values[0] == b"kept" and values[-1] == b"y" and offset == len(values) - 1


def test_a_failed_fsync_when_a_segment_rolls_fails_the_log(open_log, disk):
    log = open_log(segment_bytes=1024)
    log.append([Record(b"x" * 800)])
    disk.break_disk()
    with pytest.raises(FsyncFailedError):
        log.append([Record(b"y" * 800)])   # does not fit the segment: rolls, sealing it
    disk.repair()
    assert log.failed
    with pytest.raises(FsyncFailedError):
        log.append([Record(b"z")])
    assert _values(log) == [b"x" * 800]
