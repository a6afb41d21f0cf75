"""persist-queue's file queue (``persistqueue.Queue``) as an embedded peer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tools.bench.peers import EmbeddedQueue
from tools.bench.procs import import_peer


class PersistQueue(EmbeddedQueue):
    """put() each message; get() each, task_done() once at the end (its own durability)."""

    max_count = 50_000
    name = "persist-queue"

    def __init__(self, directory: Path, fsync: str) -> None:
        persistqueue = import_peer("persistqueue", "persist-queue")
        self.queue = persistqueue.Queue(str(directory / "pq"), chunksize=10_000,
                                        tempdir=str(directory))
        self.count = 0

    def put_each(self, payloads: Sequence[bytes]) -> None:
        put = self.queue.put
        for p in payloads:
            put(p)
        self.count += len(payloads)

    def drain(self) -> list:
        get = self.queue.get
        out = [get(block=False) for _ in range(self.count)]
        self.queue.task_done()
        return [out]

    def close(self) -> None:
        del self.queue
