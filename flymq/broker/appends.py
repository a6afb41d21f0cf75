"""The one append path's request and result: what every produce, whichever door it came
through, hands to ``Broker.append`` and gets back.

A request carries its records and every option an append may have, so a coordinator that
needs one more (a transaction id, an expiry) adds a field here instead of a new entry point.
The result carries a :class:`Durability` handle: a caller that appended with ``wait=False``
(the TCP server, so its event loop never waits on an fsync) acknowledges after waiting on it.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

if TYPE_CHECKING:
    from flymq.broker.partition import PartitionLeader

#: One record of a request: ``(key, value, partition)`` or ``(key, value, partition, headers,
#: timestamp)``; ``partition`` -1 lets the broker choose (key hash or round-robin), headers are
#: a ``dict`` or None and timestamp None means the broker's clock.
RecordTuple = tuple[Any, ...]


class AppendRequest(NamedTuple):
    """An append to one topic. A tuple, so that building one per single produce costs one
    C-level allocation."""

    topic: str
    records: Sequence[RecordTuple]
    producer: tuple[int, int, int] | None = None
    """``(producer_id, epoch, base_sequence)`` of an idempotent producer: its records name
    one partition and the batch is appended at most once."""
    transaction_id: str | None = None
    expire_at: int | None = None
    """Clock time (ms) after which the records are no longer delivered (TTL)."""
    compression: str | None = None
    """``"none"``/``"lz4"`` for this batch; None = the topic's codec."""
    wait: bool = True
    """False: return once the OS has the records; acknowledge after ``durability.wait()``."""


#: ``AppendRequest`` built in one C call from a whole tuple: the keyword constructor is a
#: Python function, about 0.2 us of every single produce. Hot paths build
#: ``new_request((topic, records) + WAITING)`` (or ``+ NOT_WAITING``); the options come from
#: a template, so a field added to AppendRequest keeps its default there too.
new_request = partial(tuple.__new__, AppendRequest)
WAITING = AppendRequest("", ())[2:]
NOT_WAITING = AppendRequest("", (), wait=False)[2:]


class Durability:
    """When the appended records are as durable as their fsync policy promises."""

    __slots__ = ("_pending",)

    def __init__(self, pending: Sequence[tuple["PartitionLeader", int]] = ()):
        self._pending = tuple(pending)   # (leader, end offset) that were not durable yet

    def done(self) -> bool:
        """Whether :meth:`wait` would return at once."""
        return all(leader.is_durable(end) for leader, end in self._pending)

    def wait(self) -> None:
        """Block until every appended record is durable (a deleted topic counts as done)."""
        for leader, end in self._pending:
            leader.wait_durable(end)


#: The handle of an append that was durable when it returned.
DURABLE = Durability()


class AppendResult(NamedTuple):
    """Where the records went: ``placements`` holds ``(partition, offset)`` in record order."""

    timestamp: int
    placements: list[tuple[int, int]]
    durability: Durability = DURABLE
