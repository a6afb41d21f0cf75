"""Idempotent produce: per-producer sequence state of one partition, and producer ids.

An idempotent producer numbers the records it sends to a partition 0, 1, 2, ... and sends
each batch with ``(producer_id, epoch, base_sequence)``. The partition leader remembers, per
producer, the next sequence it expects and the last few batches it appended with their base
offsets, so that a batch sent again after a lost reply is answered with its original offsets
instead of being appended twice, and a gap is refused (``OutOfOrderSequenceError``).

The state survives restarts without a snapshot: every stored batch carries its producer id,
epoch and base sequence, and the leader rebuilds the table from the tail of its log on open.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict, deque
from pathlib import Path
from typing import Iterable

from flymq.broker.storage.files import write_atomically
from flymq.errors import OutOfOrderSequenceError

#: Batches remembered per producer: a retry of any of them is answered, not appended.
KEEP_BATCHES = 5
#: Producers remembered per partition; the least recently active are forgotten first.
MAX_PRODUCERS = 10_000

_ID = struct.Struct(">q")


class _Producer:
    __slots__ = ("epoch", "next_sequence", "recent")

    def __init__(self, epoch: int):
        self.epoch = epoch
        self.next_sequence = 0
        self.recent: deque[tuple[int, int, int]] = deque(maxlen=KEEP_BATCHES)  # seq, count, base


class ProducerTable:
    """The sequence state of the producers writing to one partition (callers serialise)."""

    def __init__(self, where: str):
        self.where = where
        self._producers: OrderedDict[int, _Producer] = OrderedDict()

    def check(self, producer_id: int, epoch: int, sequence: int, count: int) -> int | None:
        """The base offset a duplicate batch was appended at, None for a batch to append;
        raises ``OutOfOrderSequenceError`` for anything else.

        A producer not in the table (new, or forgotten) and a new epoch start afresh.
        """
        state = self._producers.get(producer_id)
        if state is None or state.epoch != epoch:
            return None
        for seq, n, base in state.recent:
            if seq == sequence:
                if n != count:
                    break
                return base
        if sequence != state.next_sequence:
            raise OutOfOrderSequenceError(producer_id, self.where, state.next_sequence, sequence)
        return None

    def record(self, producer_id: int, epoch: int, sequence: int, count: int, base: int) -> None:
        """Remember an appended batch."""
        state = self._producers.pop(producer_id, None)
        if state is None or state.epoch != epoch:
            state = _Producer(epoch)
        state.next_sequence = sequence + count
        state.recent.append((sequence, count, base))
        self._producers[producer_id] = state           # most recently active last
        if len(self._producers) > MAX_PRODUCERS:
            self._producers.popitem(last=False)

    @classmethod
    def rebuild(cls, where: str, batches: Iterable[tuple[int, int, int, int, int]]
                ) -> "ProducerTable":
        """The table after the given stored batches ``(producer_id, epoch, base_sequence,
        count, base_offset)``, oldest first (batches without a producer are skipped)."""
        table = cls(where)
        for producer_id, epoch, sequence, count, base in batches:
            if producer_id >= 0 and sequence >= 0:
                table.record(producer_id, epoch, sequence, count, base)
        return table


class ProducerIds:
    """Allocates producer ids that are never handed out twice, also across restarts: the
    last id is written and fsynced to ``path`` before it is returned."""

    def __init__(self, path: Path):
        self._path = path
        self._lock = threading.Lock()
        self._last: int | None = None

    def next(self) -> int:
        with self._lock:
            if self._last is None:
                try:
                    self._last = _ID.unpack(self._path.read_bytes()[:_ID.size])[0]
                except (FileNotFoundError, struct.error):
                    self._last = -1
            new = self._last + 1
            write_atomically(self._path, _ID.pack(new))
            self._last = new
            return new
