"""A partition that cannot be opened says which file and why, and keeps no descriptor: a
reader retrying it must not run the process out of files."""

from __future__ import annotations

import os

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.broker.storage import LogConfig, PartitionLog, Record
from flymq.errors import StorageError

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _break_last_index(directory) -> str:
    """Replace the newest segment's offset index by a directory; returns its name."""
    index = sorted(directory.glob("*.index"))[-1]
    index.unlink()
    index.mkdir()
    return index.name


def test_a_failed_log_open_names_the_file_and_leaks_nothing(tmp_path):
    log = PartitionLog(tmp_path / "p", LogConfig(segment_bytes=1024), name="t/0")
    for i in range(20):
        log.append([Record(b"v" * 300)])
    log.close()
    name = _break_last_index(tmp_path / "p")
    before = _open_descriptors()
    for _ in range(50):
        with pytest.raises(StorageError, match=name):
            PartitionLog(tmp_path / "p", name="t/0")
    assert _open_descriptors() == before


def test_reads_of_a_broken_partition_leak_nothing(tmp_path):
    config = BrokerConfig(fsync="never", segment_bytes=1024)
    with Broker(tmp_path, config) as broker:
        for i in range(20):
            broker.produce("t", b"v" * 300)
    name = _break_last_index(tmp_path / "topics" / "t" / "0")
    with Broker(tmp_path, config) as broker:
        before = _open_descriptors()
        for _ in range(50):
            with pytest.raises(StorageError, match=name):
                broker.fetch("t", 0, 0, 10)
        assert _open_descriptors() == before
