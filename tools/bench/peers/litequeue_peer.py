"""litequeue (SQLite in WAL mode) as an embedded peer; payloads are ASCII, stored as text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tools.bench.peers import EmbeddedQueue
from tools.bench.procs import import_peer


class LiteQueuePeer(EmbeddedQueue):
    """put() each message (one transaction each); pop() each message back."""

    max_count = 5_000
    name = "litequeue"

    def __init__(self, directory: Path, fsync: str) -> None:
        self.queue = import_peer("litequeue", "litequeue").LiteQueue(str(directory / "lq.sqlite3"))
        self.count = 0

    def put_each(self, payloads: Sequence[bytes]) -> None:
        put = self.queue.put
        for p in payloads:
            put(p.decode("ascii"))
        self.count += len(payloads)

    def drain(self) -> list:
        pop = self.queue.pop
        return [[pop().data.encode("ascii") for _ in range(self.count)]]

    def close(self) -> None:
        self.queue.close()
