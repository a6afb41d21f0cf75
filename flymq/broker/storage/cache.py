"""A process-wide LRU of decoded, CRC-checked batches, bounded by the bytes they came from.

Consuming consecutive offsets one at a time, or several readers fetching the same range, would
otherwise read, checksum and decode the same batch again for every call. Entries are keyed by
``(segment, epoch, position)``: a segment's bytes never change at a position while its
``epoch`` stays the same (truncation bumps it), and a deleted segment's keys are simply never
asked for again, so nothing stale can be returned and old entries age out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Hashable

from .batch import DecodedBatch

DEFAULT_CACHE_BYTES = 64 << 20
_PER_RECORD_OVERHEAD = 64  # Python objects per decoded record, beyond its bytes


class BatchCache:
    """Least-recently-used decoded batches; thread-safe."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, DecodedBatch] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> DecodedBatch | None:
        with self._lock:
            batch = self._entries.get(key)
            if batch is not None:
                self._entries.move_to_end(key)
            return batch

    def put(self, key: Hashable, batch: DecodedBatch) -> None:
        cost = _cost(batch)
        if cost > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = batch
            self._bytes += cost
            while self._bytes > self.max_bytes:
                _, old = self._entries.popitem(last=False)
                self._bytes -= _cost(old)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


def _cost(batch: DecodedBatch) -> int:
    return batch.size + batch.count * _PER_RECORD_OVERHEAD


#: The cache every log of the process shares.
BATCH_CACHE = BatchCache()
