"""The two shapes a record takes: what a producer hands in and what a reader gets back."""

from __future__ import annotations

from typing import NamedTuple


class Record(NamedTuple):
    """One record to append; ``timestamp`` 0 means "the log's clock at append".

    A named tuple rather than a frozen dataclass: immutable all the same, and half the cost
    to create, which the single-record produce path pays once per message.
    """

    value: bytes
    key: bytes | None = None
    timestamp: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()
    expire_at: int | None = None


class LogRecord(NamedTuple):
    """One stored record with its offset and the attributes of the batch that carried it."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    expire_at: int | None
    producer_id: int
    transactional: bool
    control: bool
