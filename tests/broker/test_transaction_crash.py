"""The crash matrix: a broker killed with SIGKILL at random points of many commits and aborts
(embedded, and behind a TCP server); after each restart every transaction is all-or-nothing
across three topics and their partitions, every acknowledged commit is whole, every
acknowledged abort absent, and every acknowledged plain produce present.

``FLYMQ_TXN_CRASH_KILLS`` sets how many kills the embedded matrix makes (default 40; the
report's run used 240).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import pytest

from flymq import FlyMQClient
from flymq.broker import Broker, BrokerConfig
from flymq.errors import FlyMQError

ROOT = Path(__file__).resolve().parents[2]
TOPICS = {"ta": 3, "tb": 2, "tc": 1}
KILLS = int(os.environ.get("FLYMQ_TXN_CRASH_KILLS", "40"))

# Prints one line per acknowledged action: "P name" (plain produce), "C name n" (commit of n
# records), "A name" (rollback). A transaction's records are "t:<name>:<n>:<j>".
WORKLOAD = """
    import random, sys
    def work(begin, produce, commit, abort, plain, run, seed):
        rnd = random.Random(seed)
        topics = ("ta", "tb", "tc")
        for i in range(1, 1_000_000):
            name = "%s-%d" % (run, i)
            kind = rnd.random()
            if kind < 0.15:
                plain("ta", ("p:" + name).encode())
                print("P", name, flush=True)
                continue
            txn = begin()
            n = rnd.randint(1, 8)
            for j in range(n):
                produce(txn, rnd.choice(topics), ("t:%s:%d:%d" % (name, n, j)).encode())
            if kind < 0.8:
                commit(txn)
                print("C", name, n, flush=True)
            else:
                abort(txn)
                print("A", name, flush=True)
"""

EMBEDDED = WORKLOAD + """
    from flymq.broker import Broker, BrokerConfig
    b = Broker(sys.argv[1], BrokerConfig(fsync=sys.argv[2]))
    for topic, n in (("ta", 3), ("tb", 2), ("tc", 1)):
        b.create_topic(topic, n)
    print("ready", flush=True)
    work(b.begin_transaction, b.produce_transactional, b.commit_transaction,
         b.abort_transaction, b.produce, sys.argv[3], int(sys.argv[4]))
"""

SERVER = """
    import sys, time
    from flymq.broker import Broker, BrokerConfig
    from flymq.server import Server, ServerConfig
    b = Broker(sys.argv[1], BrokerConfig(fsync=sys.argv[2]))
    for topic, n in (("ta", 3), ("tb", 2), ("tc", 1)):
        b.create_topic(topic, n)
    host, port = Server(b, ServerConfig(host="127.0.0.1", port=0)).start_in_thread()
    print(port, flush=True)
    while True:
        time.sleep(1)
"""


def _child(script: str, *args: str) -> subprocess.Popen:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": path})


def _kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()


def check(data_dir: Path, acked: list[list[str]]) -> int:
    """Open the broker and check every transaction; returns how many were seen whole."""
    with Broker(data_dir, BrokerConfig(fsync="never")) as b:
        seen: Counter[str] = Counter()
        sizes: dict[str, int] = {}
        plain: set[str] = set()
        for topic, partitions in TOPICS.items():
            for p in range(partitions):
                for m in b.fetch(topic, p, 0, 1_000_000).messages:
                    kind, name, *rest = m.data.decode().split(":")
                    if kind == "p":
                        plain.add(name)
                    else:
                        seen[name] += 1
                        sizes[name] = int(rest[0])
    for name, count in seen.items():
        assert count == sizes[name], f"transaction {name}: {count} of {sizes[name]} visible"
    for line in acked:
        if line[0] == "C":
            assert seen[line[1]] == int(line[2]), f"acknowledged commit {line[1]} lost"
        elif line[0] == "A":
            assert line[1] not in seen, f"rolled-back transaction {line[1]} visible"
        elif line[0] == "P":
            assert line[1] in plain, f"acknowledged produce {line[1]} lost"
    return len(seen)


@pytest.mark.timeout(600)
def test_embedded_transactions_are_all_or_nothing_after_sigkill(tmp_path: Path) -> None:
    rnd = random.Random(12)
    acked: list[list[str]] = []
    committed = 0
    for kill in range(KILLS):
        fsync = "always" if kill % 4 == 3 else "interval"
        child = _child(EMBEDDED, str(tmp_path), fsync, f"r{kill}", str(rnd.randrange(1 << 30)))
        try:
            assert child.stdout.readline().strip() == "ready"
            for _ in range(rnd.randint(0, 40)):  # the kill lands wherever the child is then
                line = child.stdout.readline().split()
                assert line, "the child died on its own"
                acked.append(line)
        finally:
            _kill(child)
        committed = check(tmp_path, acked)
    assert committed > KILLS  # the matrix did commit transactions, not only die


@pytest.mark.timeout(300)
def test_tcp_transactions_are_all_or_nothing_after_sigkill(tmp_path: Path) -> None:
    rnd = random.Random(34)
    acked: list[list[str]] = []
    for kill in range(max(4, KILLS // 8)):
        child = _child(SERVER, str(tmp_path), "interval")
        try:
            port = int(child.stdout.readline())
            client = FlyMQClient(f"127.0.0.1:{port}")
            timer = threading.Timer(rnd.uniform(0.05, 0.4), child.send_signal,
                                    (signal.SIGKILL,))
            timer.start()
            lines: list[list[str]] = []
            try:
                namespace: dict = {}
                exec(textwrap.dedent(WORKLOAD), namespace)
                # the workload's "print" is its acknowledgement: record it here instead
                namespace["print"] = lambda *words, **_: lines.append([str(w) for w in words])
                namespace["work"](client.begin_transaction,
                                  lambda txn, t, v: txn.produce(t, v),
                                  lambda txn: txn.commit(), lambda txn: txn.rollback(),
                                  client.produce, f"n{kill}", rnd.randrange(1 << 30))
            except FlyMQError:
                pass   # the server died under the client
            finally:
                timer.cancel()
                client.close()
            acked += lines
        finally:
            _kill(child)
        check(tmp_path, acked)
    assert sum(1 for line in acked if line[0] == "C") > 0
