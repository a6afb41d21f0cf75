"""StateLog: changes replay in order, compaction keeps the state and shrinks the log, and a
crash at any point (also inside a compaction's swap) loses no acknowledged change and makes
up none."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flymq.broker.statelog import StateLog
from flymq.broker.storage import LogConfig
from flymq.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]


def open_state(directory: Path, compact_min: int = 10_000) -> StateLog:
    return StateLog(directory, name="__state/0", log_config=LogConfig(fsync="never"),
                    clock=ManualClock(), flusher=None, compact_min_records=compact_min)


def write_log(directory: Path, *changes: bytes) -> None:
    log = open_state(directory)
    log.append(*changes)
    log.close()


def apply(state: dict[bytes, bytes], change: bytes) -> None:
    """The changes of these tests: ``key=value`` sets a key, a bare ``key`` deletes it."""
    key, sep, value = change.partition(b"=")
    if sep:
        state[key] = value
    else:
        state.pop(key, None)


def replayed(log: StateLog) -> dict[bytes, bytes]:
    state: dict[bytes, bytes] = {}
    for change in log.replay():
        apply(state, change)
    return state


def snapshot(state: dict[bytes, bytes]) -> list[bytes]:
    return [key + b"=" + value for key, value in state.items()]


def test_changes_replay_in_order_after_reopen(tmp_path: Path) -> None:
    log = open_state(tmp_path / "state")
    assert list(log.replay()) == []
    log.append(b"a=1")
    log.append(b"b=1", b"a=2")
    log.append()
    log.close()
    log = open_state(tmp_path / "state")
    assert list(log.replay()) == [b"a=1", b"b=1", b"a=2"]
    assert log.end_offset == 3
    log.close()


def test_compaction_keeps_the_state_and_shrinks_the_log(tmp_path: Path) -> None:
    log = open_state(tmp_path / "state", compact_min=20)
    state: dict[bytes, bytes] = {}
    compactions = 0
    for i in range(300):
        change = b"k%d" % (i % 5) if i % 50 == 49 else b"k%d=%d" % (i % 5, i)
        log.append(change)
        apply(state, change)
        compactions += log.compact_if_due(lambda: snapshot(state))
    assert compactions >= 10
    assert log.end_offset < 25
    log.close()
    log = open_state(tmp_path / "state")
    assert replayed(log) == state
    log.close()
    assert os.listdir(tmp_path) == ["state"]


def test_a_mostly_live_state_is_not_rewritten(tmp_path: Path) -> None:
    log = open_state(tmp_path / "state", compact_min=10)
    state: dict[bytes, bytes] = {}
    snapshots = 0

    def counted() -> list[bytes]:
        nonlocal snapshots
        snapshots += 1
        return snapshot(state)

    for i in range(100):  # every change a new key: nothing to compact away
        log.append(b"k%d=1" % i)
        state[b"k%d" % i] = b"1"
        assert not log.compact_if_due(counted)
    assert snapshots == 2  # at 10 changes, then not before 4 x 10
    assert log.end_offset == 100
    log.close()


def test_compact_replaces_the_log_with_the_snapshot(tmp_path: Path) -> None:
    log = open_state(tmp_path / "state")
    log.append(b"a=1", b"b=2")
    log.compact(iter([b"c=3"]))
    log.append(b"d=4")
    assert list(log.replay()) == [b"c=3", b"d=4"]
    log.compact([])
    assert (log.end_offset, list(log.replay())) == (0, [])
    log.append(b"e=5")
    log.close()
    log = open_state(tmp_path / "state")
    assert list(log.replay()) == [b"e=5"]
    log.close()


HISTORY = (b"a=1", b"b=1", b"a=2", b"b")   # the live log: state {a: 2}
SNAPSHOT = (b"a=2",)                        # the same state, compacted


@pytest.mark.parametrize("crash, expected", [
    ("writing the snapshot", HISTORY),
    ("before the first rename", HISTORY),
    ("between the renames", SNAPSHOT),
    ("after the second rename", SNAPSHOT),
])
def test_an_interrupted_swap_is_finished_or_undone_on_open(tmp_path: Path, crash: str,
                                                           expected: tuple[bytes, ...]) -> None:
    live, new, old = tmp_path / "state", tmp_path / "state.new", tmp_path / "state.old"
    if crash == "writing the snapshot":
        write_log(live, *HISTORY)
        write_log(new, b"a=")  # a partial snapshot: wrong if it were taken
    elif crash == "before the first rename":
        write_log(live, *HISTORY)
        write_log(new, *SNAPSHOT)
    elif crash == "between the renames":
        write_log(old, *HISTORY)
        write_log(new, *SNAPSHOT)
    else:
        write_log(old, *HISTORY)
        write_log(live, *SNAPSHOT)
    log = open_state(live)
    assert tuple(log.replay()) == expected
    log.close()
    assert os.listdir(tmp_path) == ["state"]


CHANGER = """
    import itertools, os, signal, sys
    from pathlib import Path
    from flymq.broker.statelog import StateLog
    from flymq.broker.storage import LogConfig
    from flymq.clock import SystemClock

    if len(sys.argv) > 2:  # "before"|"after" N: kill -9 itself at its Nth rename (compaction)
        when, nth, rename, calls = sys.argv[2], int(sys.argv[3]), os.rename, itertools.count(1)
        def rename_and_die(*args):
            die = next(calls) == nth
            if die and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            rename(*args)
            if die:
                os.kill(os.getpid(), signal.SIGKILL)
        os.rename = rename_and_die

    log = StateLog(Path(sys.argv[1]), name="__state/0",
                   log_config=LogConfig(fsync="never", segment_bytes=2048), clock=SystemClock(),
                   flusher=None, compact_min_records=16)
    state = {}
    for change in log.replay():
        key, value = change.split(b"=")
        state[key] = int(value)
    n = state.get(b"last", 0)
    while True:
        n += 1
        log.append(b"k%d=%d" % (n % 7, n), b"last=%d" % n)
        state[b"k%d" % (n % 7)] = state[b"last"] = n
        print(n, flush=True)
        log.compact_if_due(lambda: [b"%s=%d" % item for item in state.items()])
"""


def after_changes(last: int) -> dict[bytes, bytes]:
    """The state CHANGER has after its changes 1..last."""
    state = {b"k%d" % (n % 7): b"%d" % n for n in range(max(1, last - 6), last + 1)}
    return {**state, b"last": b"%d" % last}


def run_and_kill(directory: Path, after: int | None, *hook: str) -> list[int]:
    """Run CHANGER on ``directory``, SIGKILL it once it has acknowledged ``after`` changes
    (unless its ``hook`` killed it first) and return every change it acknowledged, also
    those printed after that."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                        os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHANGER), str(directory),
                              *hook], stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines = list(itertools.islice(child.stdout, after))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    lines += child.stdout.readlines()
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL and lines, "the child failed"
    return [int(line) for line in lines if line.endswith("\n")]


def check_recovery(directory: Path, acked: list[int], last: int) -> int:
    """Reopen after a kill: CHANGER had gone on from change ``last``, and every change it
    acknowledged is there, nothing it did not make is; returns the last change now."""
    assert acked == list(range(last + 1, last + 1 + len(acked)))
    log = open_state(directory)
    state = replayed(log)
    log.close()
    last = int(state[b"last"])
    assert last in (acked[-1], acked[-1] + 1)  # the change being made may be there too
    assert state == after_changes(last)
    return last


def test_kill_9_at_random_moments_loses_no_acknowledged_change(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    directory = tmp_path / "state"
    last = 0
    for _ in range(6):
        acked = run_and_kill(directory, rng.randint(1, 300))
        last = check_recovery(directory, acked, last)


@pytest.mark.parametrize("when, rename, left", [
    ("before", 5, ["state", "state.new"]),         # the first rename of the third compaction
    ("after", 5, ["state.new", "state.old"]),      # between its two renames
    ("after", 6, ["state", "state.old"]),          # after the second one
])
def test_kill_9_inside_a_compaction_swap(tmp_path: Path, when: str, rename: int,
                                         left: list[str]) -> None:
    acked = run_and_kill(tmp_path / "state", None, when, str(rename))
    assert sorted(os.listdir(tmp_path)) == left
    check_recovery(tmp_path / "state", acked, 0)
    assert os.listdir(tmp_path) == ["state"]
