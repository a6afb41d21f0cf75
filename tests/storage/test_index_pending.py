"""New sparse-index entries wait in memory and are written together (storage/index.py): the
produce path no longer pays a write per entry, lookups still see every entry, a sync or a
close writes them, and a log whose process died with entries unwritten reopens whole."""

import shutil

import pytest

from flymq.broker.storage import Record
from flymq.broker.storage.index import PENDING_MAX, OffsetIndex, TimeIndex


def test_entries_wait_in_memory_until_a_full_write(tmp_path):
    path = tmp_path / "0.index"
    index = OffsetIndex(path)
    for i in range(PENDING_MAX - 1):
        index.append(i, 100 * i)
    assert path.stat().st_size == 0                   # no write per entry
    assert len(index) == PENDING_MAX - 1
    assert index.get(5) == (5, 500) and index.position_for(7) == (7, 700)
    index.append(PENDING_MAX - 1, 100 * (PENDING_MAX - 1))
    assert path.stat().st_size == PENDING_MAX * 8     # one write for all of them
    index.append(PENDING_MAX, 1)
    assert index.last() == (PENDING_MAX, 1) and index.get(3) == (3, 300)
    index.close()


def test_sync_and_close_write_what_waits(tmp_path):
    index = TimeIndex(tmp_path / "0.timeindex")
    index.append(10, 0)
    index.append(20, 4)
    index.sync()
    assert TimeIndex(tmp_path / "0.timeindex").last() == (20, 4)
    index.append(30, 9)
    index.close()
    reopened = TimeIndex(tmp_path / "0.timeindex")
    assert len(reopened) == 3 and reopened.last() == (30, 9)
    reopened.close()


def test_truncate_keeps_written_and_waiting_entries_in_order(tmp_path):
    index = OffsetIndex(tmp_path / "0.index")
    for i in range(PENDING_MAX + 10):
        index.append(i, i)
    index.truncate(PENDING_MAX + 3)
    index.append(1000, 1000)
    assert len(index) == PENDING_MAX + 4
    assert index.get(PENDING_MAX + 2) == (PENDING_MAX + 2, PENDING_MAX + 2)
    assert index.last() == (1000, 1000)
    index.close()


@pytest.mark.timeout(60)
def test_a_log_whose_process_died_with_entries_unwritten(open_log, tmp_path, clock):
    """The directory as a killed process leaves it (the log's bytes written, index entries
    still in memory) reopens with every record at its offset and timestamp lookups right."""
    log = open_log(index_interval_bytes=64, segment_bytes=1 << 20)
    for i in range(300):
        clock.advance(1)
        log.append([Record(b"record-%03d" % i)])
    shutil.copytree(tmp_path / "p", tmp_path / "killed")   # before any close or sync
    assert (tmp_path / "killed" / "00000000000000000000.index").stat().st_size \
        < len(log._active.index) * 8
    reopened = open_log("killed", index_interval_bytes=64, segment_bytes=1 << 20)
    assert reopened.end_offset == 300
    for offset in (0, 1, 77, 150, 299):
        assert reopened.read(offset, max_records=1)[0].value == b"record-%03d" % offset
    assert reopened.offset_for_timestamp(log.read(200, 1)[0].timestamp) == 200
    assert len(reopened._active.index) == len(log._active.index)   # rebuilt, same entries
