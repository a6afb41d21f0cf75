"""kill -9 a writer at random points; every acknowledged batch must survive, intact."""

import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flymq.broker.storage import FsyncPolicy, LogConfig, PartitionLog

WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from flymq.broker.storage import LogConfig, PartitionLog, Record
    log = PartitionLog({directory!r}, LogConfig(fsync={policy!r}, segment_bytes=32768,
                       index_interval_bytes=512, fsync_interval_ms=5))
    n = 0
    while True:
        count = 1 + n % 7
        records = [Record(b"%d:" % (n + j) + b"x" * ((n + j) % 300)) for j in range(count)]
        base = log.append(records, compression="lz4" if n % 3 == 0 else None)
        print(base, n, count, flush=True)
        n += count
""")


def expected_value(n: int) -> bytes:
    return b"%d:" % n + b"x" * (n % 300)


@pytest.mark.parametrize("policy", [p.value for p in FsyncPolicy])
def test_sigkill_never_loses_acknowledged_batches(tmp_path, policy):
    rng = random.Random(policy)
    directory = tmp_path / "log"
    root = str(Path(__file__).resolve().parents[2])
    script = WRITER.format(root=root, directory=str(directory), policy=policy)
    acked: dict[int, tuple[int, int]] = {}
    end = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        try:
            for _ in range(rng.randint(1, 400)):
                line = proc.stdout.readline()
                assert line, "writer died"
                base, n, count = map(int, line.split())
                assert base == end, "offsets must continue without gaps or reuse"
                acked[base] = (n, count)
                end = base + count
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        log = PartitionLog(directory, LogConfig(fsync=FsyncPolicy.NEVER))
        try:
            assert log.end_offset >= end
            records = log.read(0, max_records=10**7, max_bytes=1 << 30)
            assert [r.offset for r in records] == list(range(log.end_offset))
            for base, (n, count) in acked.items():
                got = [r.value for r in records[base:base + count]]
                assert got == [expected_value(n + j) for j in range(count)]
            end = log.end_offset  # batches written but not yet printed are kept, not reused
        finally:
            log.close()
