"""Disk trouble is a StorageError that names the file and the reason, with a hint, on both
transports (never ``internal error: OSError ...``), and the broker works again once the
trouble is gone, without a restart (issue 16, point 6). Faults are injected by replacing one
system call; the real open-file limit is in test_open_files.py."""

from __future__ import annotations

import errno
import os

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.errors import StorageError


@pytest.fixture
def flymq_broker_config() -> BrokerConfig:
    return BrokerConfig(fsync="never", segment_bytes=1024)


def failing(real, error: int, applies):
    """``real`` that raises ``OSError(error)`` while ``applies(path)`` holds for its first
    argument (a path, or a descriptor's path through /proc)."""
    def call(target, *args, **kwargs):
        path = os.readlink(f"/proc/self/fd/{target}") if isinstance(target, int) else target
        if applies(os.fsdecode(path)):
            raise OSError(error, os.strerror(error))
        return real(target, *args, **kwargs)
    return call


def test_a_full_disk_at_topic_creation(client, flymq_data_dir, monkeypatch):
    monkeypatch.setattr(os, "mkdir", failing(os.mkdir, errno.ENOSPC, lambda p: ".new-" in p))
    with pytest.raises(StorageError, match=r"cannot create topic 'orders' in .*topics/\.new-"
                                           r"\w+: no space left on device") as info:
        client.create_topic("orders")
    assert "Free disk space" in info.value.hint
    with pytest.raises(StorageError, match="no space left on device"):
        client.produce("auto", b"x")   # a produce that creates its topic: the same error
    assert os.listdir(flymq_data_dir / "topics") == []   # nothing half-made is left
    monkeypatch.undo()
    client.create_topic("orders")
    client.produce("orders", b"x")
    assert client.fetch("orders", 0, 0, 1).messages[0].value == b"x"


def test_no_descriptor_left_at_topic_creation(client, monkeypatch):
    monkeypatch.setattr(os, "open", failing(os.open, errno.EMFILE, lambda p: "topics" in p))
    with pytest.raises(StorageError, match="too many open files") as info:
        client.create_topic("orders")
    assert "open-file limit" in info.value.hint
    monkeypatch.undo()
    client.create_topic("orders")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_full_disk_at_a_segment_roll_fails_that_produce_only(client, monkeypatch):
    client.create_topic("t")
    for i in range(2):   # 363 bytes each: the third rolls the 1024-byte segment
        client.produce("t", b"%03d" % i + b"v" * 300)
    monkeypatch.setattr(os, "pwrite", failing(os.pwrite, errno.ENOSPC,
                                              lambda p: p.endswith(".timeindex")))
    with pytest.raises(StorageError, match=r"cannot write .*t/0/0{20}\.timeindex: no space "
                                           r"left on device") as info:
        client.produce("t", b"002" + b"v" * 300)   # rolls the segment: seals it first
    assert "Free disk space" in info.value.hint
    monkeypatch.undo()
    for i in range(2, 8):  # the log is not failed: once there is space, it takes appends
        client.produce("t", b"%03d" % i + b"v" * 300)
    values = [m.value[:3] for m in client.fetch("t", 0, 0, 100).messages]
    assert values == [b"%03d" % i for i in range(8)]


@pytest.mark.parametrize("name", ["topics", "groups"])
def test_a_file_where_the_broker_needs_a_directory(tmp_path, name):
    (tmp_path / name).write_text("not flymq's")
    with pytest.raises(StorageError, match=rf"cannot use .*{name}: file exists") as info:
        Broker(tmp_path)
    assert "move it away" in info.value.hint
    (tmp_path / name).unlink()
    with Broker(tmp_path) as broker:   # nothing was left held: the lock, descriptors
        broker.produce("t", b"x")


def test_a_lock_file_that_is_a_directory(tmp_path):
    (tmp_path / ".lock").mkdir()
    with pytest.raises(StorageError, match=r"cannot lock .*\.lock: is a directory") as info:
        Broker(tmp_path)
    assert "move it away" in info.value.hint
    (tmp_path / ".lock").rmdir()
    with Broker(tmp_path) as broker:
        broker.produce("t", b"x")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_topic_is_deleted_even_when_its_last_checkpoint_cannot_be_written(
        client, flymq_data_dir, monkeypatch):
    from flymq.broker.storage import checkpoint
    from flymq.broker.storage.files import storage_error

    client.produce("kept", b"x")
    before = len(os.listdir("/proc/self/fd"))
    client.produce("t", b"x")   # its partition is open now: three more descriptors

    def no_descriptor(path, data, **kwargs):
        raise storage_error(path, OSError(errno.EMFILE, os.strerror(errno.EMFILE)), "write")

    monkeypatch.setattr(checkpoint, "write_atomically", no_descriptor)
    client.delete_topic("t")    # closing flushes and checkpoints first: that fails
    monkeypatch.undo()
    assert len(os.listdir("/proc/self/fd")) == before   # its files were closed anyway
    assert sorted(os.listdir(flymq_data_dir / "topics")) == ["kept"]
    assert client.list_topics() == ["kept"]
    client.produce("t", b"again")
    assert [m.value for m in client.fetch("t", 0, 0, 10).messages] == [b"again"]
