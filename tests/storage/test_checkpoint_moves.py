"""The recovery checkpoint's frequent moves overwrite it in place (storage/checkpoint.py): no
temp file, rename or fsync of its own on each flush, and whatever a crash leaves of it (old,
torn, longer, missing) only makes recovery scan more."""

import os

import pytest

from flymq.broker.storage import FsyncPolicy, Record
from flymq.broker.storage.checkpoint import FILE_NAME, Checkpoint, read_checkpoint


def appended(log, n, start=0):
    for i in range(start, start + n):
        log.append([Record(b"r%04d" % i)])


def values(log):
    return [r.value for r in log.read(0, max_records=10**6)]


def test_a_flush_moves_the_checkpoint_with_one_write(open_log, tmp_path, monkeypatch):
    log = open_log(fsync=FsyncPolicy.INTERVAL)
    appended(log, 10)
    log.flush()
    inode = (tmp_path / "p" / FILE_NAME).stat().st_ino
    appended(log, 5, 10)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(
        f"/proc/self/fd/{fd}")), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda *a: pytest.fail("a rename per flush"))
    log.flush()
    monkeypatch.undo()
    cp = read_checkpoint(tmp_path / "p")
    assert cp == Checkpoint(0, log._active.size, 15)
    assert (tmp_path / "p" / FILE_NAME).stat().st_ino == inode        # the same file
    assert not [p for p in synced if p.endswith(FILE_NAME)]            # not fsynced itself
    assert [p for p in synced if p.endswith(".log")]                   # the data it names is


@pytest.mark.parametrize("left", ["torn", "longer", "missing"])
def test_what_a_crash_leaves_of_it_only_makes_recovery_scan(open_log, tmp_path, left):
    log = open_log(fsync=FsyncPolicy.INTERVAL)
    appended(log, 20)
    log.flush()
    path = tmp_path / "p" / FILE_NAME
    if left == "torn":
        raw = bytearray(path.read_bytes())
        raw[10:20] = b"\xff" * 10
        path.write_bytes(bytes(raw))
    elif left == "longer":
        path.write_bytes(path.read_bytes() + b"junk left by an older writer")
    else:
        path.unlink()
    assert read_checkpoint(tmp_path / "p") is None
    appended(log, 1, 20)
    log.close()  # the next move makes it whole again, exactly its size
    assert read_checkpoint(tmp_path / "p") == Checkpoint(0, log._active.size, 21)
    assert path.stat().st_size == 32
    path.write_bytes(b"\x00" * 32)  # and a broken one at open: the scan finds every record
    reopened = open_log(fsync=FsyncPolicy.INTERVAL)
    assert values(reopened) == [b"r%04d" % i for i in range(21)]
