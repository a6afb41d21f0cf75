"""Teardown leaves nothing behind: 200 broker start/stop cycles (embedded, over TCP, the
fixtures' way) end with the threads, descriptors, listening ports and temp directories
they started with; an unclosed temporary broker leaves no directory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from flymq import FlyMQClient
from flymq.broker import Broker
from flymq.testing import PACKAGE_ROOT, Faults, start_server
from flymq.testing.proxy import FaultyProxy

CYCLES = 200


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _temp_dirs() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("flymq-")}


def _listening_ports() -> set[str]:
    """Local addresses of this process's listening TCP sockets (state 0A in /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(fields[1])
    return ports


def _snapshot() -> tuple:
    return (threading.active_count(), _fds(), _temp_dirs(), _listening_ports())


def _settled(before: tuple, timeout: float = 10.0) -> tuple:
    """The state once threads that were told to stop have ended (they finish on their own
    after close() returns, e.g. an idle flusher waking up)."""
    deadline = time.monotonic() + timeout
    while True:
        now = _snapshot()
        if now[0] <= before[0] and now[1] <= before[1] or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def _cycle(tmp: Path, i: int) -> None:
    with Broker(tmp / f"b{i % 3}") as broker:       # reopening directories, too
        with Faults(broker), start_server(broker) as server:
            address = "%s:%d" % server.address
            with FaultyProxy(address) as proxy, FlyMQClient(proxy.address) as tcp:
                tcp.produce("t", b"x")
                assert tcp.fetch("t", 0, 0, 1).messages
            with broker.client() as local:
                local.commit_offset("t", "g", 0, 1)
    with FlyMQClient("memory://") as memory:         # a temporary broker of its own
        memory.produce("t", b"x")
    temporary = Broker()
    temporary.crash()
    temporary.restart()
    temporary.close()


def test_two_hundred_cycles_leave_nothing_behind(tmp_path, monkeypatch):
    # a temp directory of this test's own: other processes come and go in the system one
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    _cycle(tmp_path, 0)  # imports, caches and pools that live for the process
    before = _settled(_snapshot())
    for i in range(CYCLES):
        _cycle(tmp_path, i)
    threads, fds, temp_dirs, ports = _settled(before)
    assert threads <= before[0], threading.enumerate()
    assert fds - before[1] == set(), {fd: os.readlink(f"/proc/self/fd/{fd}")
                                       for fd in fds - before[1]}
    assert temp_dirs == before[2]
    assert ports == before[3]


def _run(code: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(PACKAGE_ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


def test_unclosed_temporary_brokers_leave_no_directory(tmp_path):
    run = _run("from flymq import FlyMQClient\n"
               "c = FlyMQClient('memory://'); c.produce('t', b'x')\n"
               "from flymq.broker import Broker\n"
               "b = Broker(); b.produce('t', b'x')\n", tmp_path)
    assert run.returncode == 0, run.stderr
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_killed_process_s_directory_is_swept_by_the_next_temporary_broker(tmp_path):
    run = _run("import os\n"
               "from flymq.broker import Broker\n"
               "b = Broker(); b.produce('t', b'x'); print(b.data_dir, flush=True)\n"
               "os.kill(os.getpid(), 9)\n", tmp_path)
    left = Path(run.stdout.strip())
    assert left.exists()
    from flymq.broker import temp_dirs
    old = time.time() - temp_dirs.SETTLE_S - 1
    os.utime(left / temp_dirs.MARKER, (old, old))
    other = tmp_path / "flymq-not-ours"       # no marker: never touched
    other.mkdir()
    run = _run("from flymq.broker import Broker\nBroker().close()\n", tmp_path)
    assert run.returncode == 0, run.stderr
    assert not left.exists()
    assert other.exists()
