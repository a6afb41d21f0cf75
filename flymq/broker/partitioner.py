"""Which partition a produced record goes to (wire spec §7.2), exactly as upstream FlyMQ.

Keyed records go where :func:`flymq.keyhash.key_partition` puts them; unkeyed records spread
round-robin.
"""

from __future__ import annotations

import itertools

from flymq.keyhash import key_partition


class RoundRobin:
    """The per-topic counter for unkeyed records: 0, 1, 2, ... mod N, reset on restart.

    ``next()`` of ``itertools.count`` is atomic under the GIL, so threads never share a slot.
    The single produce inlines :meth:`next_partition` as ``next(rr.counter) % partitions``.
    """

    __slots__ = ("counter",)

    def __init__(self) -> None:
        self.counter = itertools.count()

    def next_partition(self, partitions: int) -> int:
        return next(self.counter) % partitions


def choose_partition(key: bytes | None, partitions: int, round_robin: RoundRobin) -> int:
    """The partition for a record with no explicit partition.

    One-partition topics never advance the round-robin counter; an empty key counts as none.
    """
    if partitions == 1:
        return 0
    if key:
        return key_partition(key, partitions)
    return round_robin.next_partition(partitions)
