"""Two `flymq subscribe --group` processes share the partitions of a topic."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from flymq import FlyMQClient
from flymq.errors import ConsumerGroupNotFoundError
from flymq.testing import PACKAGE_ROOT, serve_env

from tests.cli.conftest import flymq


def _member(serve, lines: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flymq", "subscribe", "t", "--group", "g", "--show-offset",
         "--server", serve.bootstrap], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=serve_env(), cwd=PACKAGE_ROOT)
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                     daemon=True).start()
    return proc


def _settled(serve) -> bool:
    """Both members hold a partition each (the rebalance went through)."""
    with FlyMQClient(serve.bootstrap) as client:
        try:
            group = client.describe_group("g")
        except ConsumerGroupNotFoundError:  # nobody joined yet
            return False
    members = group.get("members", [])
    return len(members) == 2 and all(m.get("assignment") for m in members)


def test_two_members_share_the_partitions(serve):
    flymq("topics", "create", "t", "-p", "2", "--server", serve.bootstrap)
    a_lines: list[str] = []
    b_lines: list[str] = []
    a = _member(serve, a_lines)
    b = _member(serve, b_lines)
    try:
        deadline = time.monotonic() + 30
        while not _settled(serve) and time.monotonic() < deadline:
            time.sleep(0.2)
        for p in (0, 1):
            flymq("produce", "t", f"p{p}-{{i}}", "--count", "5", "-p", str(p),
                  "--server", serve.bootstrap)
        while len(a_lines) + len(b_lines) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for proc in (a, b):
            proc.terminate()
            proc.wait(10)
    assert len(a_lines) + len(b_lines) == 10, (a_lines, b_lines)
    parts_a = {line.split("@")[0] for line in a_lines}
    parts_b = {line.split("@")[0] for line in b_lines}
    assert parts_a and parts_b and not parts_a & parts_b
