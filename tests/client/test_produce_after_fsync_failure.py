"""A partition whose fsync failed refuses produces with FsyncFailedError, on both transports,
while the broker goes on serving reads and every other partition."""

from __future__ import annotations

import pytest

from flymq.errors import FsyncFailedError, ServerError


def test_produce_after_a_failed_fsync_is_refused_and_reads_go_on(client, disk):
    client.create_topic("safe", 1, config={"fsync": "always"})
    first = client.produce("safe", b"one")
    disk.break_disk()
    with pytest.raises(FsyncFailedError) as info:
        client.produce("safe", b"two")
    assert isinstance(info.value, ServerError) and "safe" in str(info.value)
    disk.repair()
    with pytest.raises(FsyncFailedError):   # never acknowledged on a retried fsync
        client.produce("safe", b"three")
    assert client.consume("safe", first).value == b"one"
    assert client.fetch("safe", 0, 0, 10).messages[0].value == b"one"
    client.create_topic("other", 1, config={"fsync": "always"})
    assert client.produce("other", b"fine") == 0
