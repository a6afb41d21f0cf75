"""Storage fixtures: partition logs under ``tmp_path`` on the plugin's ``flymq_clock``."""

import pytest

from flymq.broker.storage import Flusher, FsyncPolicy, LogConfig, PartitionLog
from flymq.clock import ManualClock


@pytest.fixture
def clock(flymq_clock: ManualClock) -> ManualClock:
    return flymq_clock


@pytest.fixture
def flusher():
    f = Flusher()
    yield f
    f.close()


@pytest.fixture
def open_log(tmp_path, clock, flusher):
    """Open (or reopen) a log under tmp_path; closes whatever is still open at the end."""
    opened = []

    def _open(name="p", fsync=FsyncPolicy.NEVER, **cfg):
        log = PartitionLog(tmp_path / name, LogConfig(fsync=fsync, **cfg), clock=clock,
                           flusher=flusher, name="t/0")
        opened.append(log)
        return log

    yield _open
    for log in opened:
        log.close()
