"""A partition that cannot be opened (issue 16, point 1): every read retrying it fails with a
StorageError naming the file and the reason, on both transports, and keeps no descriptor;
other topics keep working; once the damage is gone the next read opens it, without a restart.

The two damages of the issue: an ``.index`` replaced by a directory, and a full disk while
an index must be rebuilt (ENOSPC injected into ``os.pwrite`` of index files)."""

from __future__ import annotations

import errno
import os

import pytest

from flymq.broker import BrokerConfig
from flymq.errors import StorageError

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")

#: Reads of the broken partition per transport: the issue's 200 embedded and 1,000 served.
READS = {"local": 200, "tcp": 1000}


@pytest.fixture
def flymq_broker_config() -> BrokerConfig:
    return BrokerConfig(fsync="never", segment_bytes=1024)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def damaged(client, flymq_broker, flymq_data_dir):
    """Topic ``t`` (several segments, 20 records) and ``other`` written, then the broker
    restarted so that ``t``'s partition opens again on the next read; yields its directory."""
    for i in range(20):
        client.produce("t", b"%02d" % i + b"v" * 300)
    client.produce("other", b"fine")
    flymq_broker.close()
    flymq_broker.restart()
    return flymq_data_dir / "topics" / "t" / "0"


def reads_fail_and_leak_nothing(client, endpoint, match: str) -> StorageError:
    """Read the broken partition as often as the issue did; every read fails with ``match``
    and the process's descriptor count stays where it was. Returns the last error."""
    with pytest.raises(StorageError, match=match):
        client.fetch("t", 0, 0, 10)  # the first attempt: anything lazily made is made now
    before = open_descriptors()
    for _ in range(READS["local" if endpoint.__class__ is not str else "tcp"]):
        with pytest.raises(StorageError, match=match) as info:
            client.fetch("t", 0, 0, 10)
    assert open_descriptors() == before
    assert client.fetch("other", 0, 0, 1).messages[0].value == b"fine"   # others still served
    client.produce("other", b"more")
    return info.value


@pytest.mark.timeout(60)
def test_an_index_that_is_a_directory(client, endpoint, damaged):
    index = sorted(damaged.glob("*.index"))[0]
    index.unlink()
    index.mkdir()
    error = reads_fail_and_leak_nothing(client, endpoint,
                                        rf"cannot open .*t/0/{index.name}: is a directory")
    assert "move it away" in error.hint
    index.rmdir()   # the damage is removed: the next read opens the partition
    assert [m.value[:2] for m in client.fetch("t", 0, 0, 100).messages] == \
        [b"%02d" % i for i in range(20)]


@pytest.mark.timeout(60)
def test_a_full_disk_while_an_index_is_rebuilt(client, endpoint, damaged, monkeypatch):
    for index in damaged.glob("00000000000000000000.*index"):
        index.unlink()  # a closed segment without indexes: opening rebuilds them
    real = os.pwrite

    def full_for_indexes(fd: int, data: bytes, position: int) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("index"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, position)

    monkeypatch.setattr(os, "pwrite", full_for_indexes)
    error = reads_fail_and_leak_nothing(
        client, endpoint, r"cannot write .*t/0/0{20}\.(time)?index: no space left on device")
    assert "Free disk space" in error.hint
    monkeypatch.undo()   # space freed
    assert [m.value[:2] for m in client.fetch("t", 0, 0, 100).messages] == \
        [b"%02d" % i for i in range(20)]
