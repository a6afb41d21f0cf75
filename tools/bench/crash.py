"""Kill -9 a writer mid-stream and learn which offsets it had acknowledged.

The writer runs in a spawned process, reports each acknowledged append through a pipe, and
is SIGKILLed once it has written ``target_bytes``; it stops by itself at twice that size.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

from tools.bench.verify import make_payload

BATCH = 1_000
WRITER_TIMEOUT_S = 300.0


def log_writer(directory: str, size: int, target_bytes: int, conn: Any) -> None:
    """Append batches to one PartitionLog (fsync=interval); send (0, last offset, bytes)."""
    from flymq.broker.storage import LogConfig, PartitionLog, Record

    log = PartitionLog(Path(directory), LogConfig())
    while log.size_bytes < 2 * target_bytes:
        base = log.end_offset
        log.append([Record(make_payload(0, base + i, size)) for i in range(BATCH)])
        conn.send((0, base + BATCH - 1, log.size_bytes))


def broker_writer(directory: str, size: int, target_bytes: int, conn: Any,
                  partitions: int = 10) -> None:
    """produce_batch round-robin over a topic's partitions; send (partition, last, bytes)."""
    from flymq.broker import Broker

    broker = Broker(directory)
    broker.create_topic("crash", partitions)
    written, ends = 0, [0] * partitions
    while written < 2 * target_bytes:
        for p in range(partitions):
            base = ends[p]
            broker.produce_batch("crash", [(None, make_payload(p, base + i, size), p)
                                           for i in range(BATCH)])
            ends[p] += BATCH
            written += BATCH * size
            conn.send((p, ends[p] - 1, written))


def kill_after(writer: Any, directory: Path, size: int, target_bytes: int) -> dict[int, int]:
    """Run ``writer`` until it reports ``target_bytes``, SIGKILL it; last acked offset per key."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=writer, args=(str(directory), size, target_bytes, theirs),
                       daemon=True)
    proc.start()
    theirs.close()
    acked: dict[int, int] = {}
    try:
        while True:
            if not ours.poll(WRITER_TIMEOUT_S):
                raise TimeoutError("crash writer stopped reporting")
            key, offset, written = ours.recv()
            acked[key] = offset
            if written >= target_bytes:
                break
    except EOFError:
        raise RuntimeError(f"crash writer exited early (code {proc.exitcode})") from None
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    try:
        while ours.poll(0):   # acknowledgements sent just before the kill
            key, offset, _ = ours.recv()
            acked[key] = offset
    except EOFError:
        pass
    return acked

