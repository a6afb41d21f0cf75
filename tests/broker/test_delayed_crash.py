"""kill -9 matrix for delayed messages: killed before, around and after their due time and
in the middle of a burst release, a restarted broker delivers every acknowledged delayed
message exactly once (and nothing twice)."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ("t0", "t1", "t2")

CHILD = """
    import sys, time
    from flymq.broker import Broker, BrokerConfig
    data_dir, fsync, mode = sys.argv[1:4]
    b = Broker(data_dir, BrokerConfig(fsync=fsync))
    for t in ("t0", "t1", "t2"):
        b.create_topic(t, 2)
    if mode == "before":            # all still pending at the kill
        delays = [3_600_000 + i for i in range(300)]
    elif mode == "around":          # due while more are produced
        delays = [1 + (i * 7) % 40 for i in range(100_000)]
    else:                           # a burst: 3000 due at one moment
        due = int(time.time() * 1000) + 1500
        delays = None
    i = 0
    while True:
        delay = delays[i] if delays else max(1, due - int(time.time() * 1000))
        md = b.produce_delayed("t%d" % (i % 3), b"%d" % i, delay, key=b"k%d" % (i % 5))
        print(i, md.delay_id, flush=True)
        i += 1
        if delays is None and i == 3000:
            time.sleep(max(0, due - time.time() * 1000) / 1000)
            print("due", flush=True)
            time.sleep(60)
        if delays and i == len(delays):
            time.sleep(60)
"""


def run_and_kill(data_dir: Path, mode: str, fsync: str, *, acks: int, after_due_s: float
                 ) -> list[int]:
    """Run the child; SIGKILL it after ``acks`` acknowledged messages (and, in burst mode,
    ``after_due_s`` after the burst was due). Returns the acknowledged message numbers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                         os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), str(data_dir),
                              fsync, mode], stdout=subprocess.PIPE, text=True, env=env)
    acked: list[int] = []
    try:
        for line in child.stdout:
            if line.strip() == "due":
                time.sleep(after_due_s)
                break
            acked.append(int(line.split()[0]))
            if mode != "burst" and len(acked) >= acks:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        rest = child.stdout.read()   # acknowledged before the kill, not read yet
        child.stdout.close()
    acked += [int(line.split()[0]) for line in rest.splitlines() if line.strip() != "due"]
    return acked


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode, acks, after_due_s", [
    ("before", 300, 0), ("around", 400, 0), ("around", 1500, 0),
    ("burst", 3000, 0.0), ("burst", 3000, 0.15), ("burst", 3000, 0.3),    # during the burst
    ("burst", 3000, 2.0)])                                               # after it
def test_every_acknowledged_delay_appears_exactly_once(tmp_path: Path, mode, acks,
                                                       after_due_s) -> None:
    data_dir = tmp_path / "data"
    acked = run_and_kill(data_dir, mode, "interval", acks=acks, after_due_s=after_due_s)
    assert len(acked) >= min(acks, 300)
    clock = ManualClock(int(time.time() * 1000) + 7_200_000)   # everything is due
    for _ in range(2):  # a second restart must not deliver anything again
        with Broker(data_dir, BrokerConfig(fsync="never"), clock=clock) as b:
            clock.advance(0)
            assert b.count_delayed() == 0
            delivered = collections.Counter(
                m.data for t in TOPICS for p in range(2)
                for m in b.fetch(t, p, 0, 1_000_000).messages)
        assert max(delivered.values(), default=1) == 1, "a delayed message appeared twice"
        assert {b"%d" % i for i in acked} <= set(delivered)
        highest = max(acked)
        assert all(int(v) <= highest + 1 for v in delivered)  # nothing invented
