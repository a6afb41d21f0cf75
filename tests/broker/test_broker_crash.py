"""kill -9 in the middle of work loses nothing that was acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flymq.broker import Broker, BrokerConfig

ROOT = Path(__file__).resolve().parents[2]


def run_until_killed(script: str, *args: str, acks: int) -> list[str]:
    """Run ``script`` in a child that prints one line per acknowledged action; SIGKILL it
    after ``acks`` lines and return the lines it printed."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args],
                             stdout=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if len(lines) >= acks:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert len(lines) >= acks, "the child died before acknowledging enough work"
    return lines


COMMITTER = """
    import sys
    from flymq.broker import Broker, BrokerConfig
    b = Broker(sys.argv[1], BrokerConfig(fsync=sys.argv[2]))
    b.create_topic("t", 3)
    i = 0
    while True:
        i += 1
        b.commit_offset("t", "g", i % 3, i)
        print(i, flush=True)
"""

PRODUCER = """
    import sys
    from flymq.broker import Broker, BrokerConfig
    b = Broker(sys.argv[1], BrokerConfig(fsync=sys.argv[2]))
    i = 0
    while True:
        topic = "orders/%d" % (i % 4)
        md = b.produce(topic, b"v%d" % i, key=b"k%d" % i)
        print(topic, md.partition, md.offset, i, flush=True)
        i += 1
"""


@pytest.mark.parametrize("fsync", ["interval", "always"])
def test_group_commits_survive_sigkill(data_dir: Path, fsync: str) -> None:
    last = int(run_until_killed(COMMITTER, str(data_dir), fsync, acks=300)[-1])
    with Broker(data_dir, BrokerConfig(fsync="never")) as b:
        offsets = {o["partition"]: o["offset"]
                   for o in b.describe_consumer_group("t", "g")["offsets"]}
    for p in range(3):  # every printed commit is durable; later, unprinted ones may be too
        newest_printed = max(i for i in range(last - 2, last + 1) if i % 3 == p)
        assert offsets[p] >= newest_printed and offsets[p] % 3 == p


def test_produced_records_and_new_topics_survive_sigkill(data_dir: Path) -> None:
    acked = [line.split() for line in run_until_killed(PRODUCER, str(data_dir), "interval",
                                                       acks=400)]
    with Broker(data_dir, BrokerConfig(fsync="never")) as b:
        assert b.list_topics() == [f"orders/{n}" for n in range(4)]
        for topic, partition, offset, i in acked:
            msg = b.consume(topic, int(partition), int(offset))
            assert (msg.data, msg.key) == (b"v" + i.encode(), b"k" + i.encode())
