"""``flymq bench``: no scenario lists them with their cost; an interrupted run stops its
servers and removes its temp dirs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flymq.testing import PACKAGE_ROOT, serve_env

from .conftest import flymq


def test_no_scenario_lists_them_with_their_cost():
    run = flymq("bench", timeout=60)
    assert run.code == 0, run
    lines = run.out.splitlines()
    assert lines[0].split()[:3] == ["SCENARIO", "FULL", "--quick"]
    assert any(line.startswith("b1 ") and "~" in line and "min" in line for line in lines)
    assert "estimated wall-clock times" in run.out and "not measurements" in run.out


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _cmdline(pid: int) -> bytes:
    """A process's arguments, NUL-separated; empty once it has exited."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_stops_its_servers_and_removes_its_temp_dirs(tmp_path, sig):
    env = serve_env(TMPDIR=str(tmp_path))
    bench = subprocess.Popen(
        [sys.executable, "-m", "flymq", "bench", "b4", "--quick", "--server", "process",
         "--no-progress", "--out", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=PACKAGE_ROOT)
    try:
        deadline = time.monotonic() + 60
        servers: list[int] = []
        while time.monotonic() < deadline and not servers:
            servers = [p for p in _children(bench.pid)
                       if b"\0serve\0" in _cmdline(p)]
            time.sleep(0.05)
        assert servers, "the benchmark never started a server"
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("flymq-bench")]
        bench.send_signal(sig)
        bench.wait(30)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode != 0
    for pid in servers:
        assert not Path(f"/proc/{pid}").exists() or \
            Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z", "server left running"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("flymq-")] == []
