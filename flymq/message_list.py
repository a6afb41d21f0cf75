"""The messages of one fetch, kept as columns and built as they are read.

A fetch returns thousands of records; a :class:`MessageList` keeps them as the columns storage
or the wire gave (offsets, values, keys, ...) and builds each ``ConsumedMessage`` when it is read
(see :mod:`flymq.lazy_list`). Building them all at once used to cost a fifth of a bulk read in
CPython's cyclic garbage collector alone, walking thousands of live messages again and again.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat
from typing import Any, NamedTuple

from flymq.lazy_list import LazyList
from flymq.models import ConsumedMessage

_new_tuple = tuple.__new__  # _new_tuple(ConsumedMessage, fields): a message, built in C


class MessageColumns(NamedTuple):
    """Consecutive records of one partition, one sequence per field.

    ``keys``, ``timestamps`` and ``headers`` may be None when no record has one; an item may
    also be None on its own. Timestamps are ms since the epoch or ``datetime``s.
    """

    topic: str
    partition: int
    offsets: Sequence[int]
    values: Sequence[bytes]
    keys: Sequence[bytes | None] | None = None
    timestamps: Sequence[Any] | None = None
    headers: Sequence[dict[str, str] | None] | None = None
    deserializer: Any = None

    def messages(self) -> Iterator[ConsumedMessage]:
        """Each record as a message, built as the iterator is advanced."""
        topic, partition, offsets, values, keys, stamps, headers, deserializer = self
        none = repeat(None)
        return map(_new_tuple, repeat(ConsumedMessage), zip(
            repeat(topic), repeat(partition), offsets, values,
            none if keys is None else keys, none if stamps is None else stamps,
            none if headers is None else headers, repeat(0), repeat(deserializer)))

    def message(self, i: int) -> ConsumedMessage:
        return _new_tuple(ConsumedMessage, (
            self.topic, self.partition, self.offsets[i], self.values[i],
            None if self.keys is None else self.keys[i],
            None if self.timestamps is None else self.timestamps[i],
            None if self.headers is None else self.headers[i], 0, self.deserializer))


class MessageList(LazyList[ConsumedMessage]):
    """A list of ``ConsumedMessage`` kept as columns until it is changed."""

    __slots__ = ("_columns", "_starts")

    def __init__(self, messages: Iterable[ConsumedMessage] = ()) -> None:
        super().__init__(messages)
        self._columns: tuple[MessageColumns, ...] = ()
        self._starts: list[int] = [0]

    @classmethod
    def from_columns(cls, columns: Iterable[MessageColumns]) -> "MessageList":
        """The messages of ``columns``, in order, none built yet."""
        self = cls()
        self._columns = tuple(c for c in columns if c.values)
        for c in self._columns:
            self._starts.append(self._starts[-1] + len(c.values))
        self._items = None
        return self

    def with_deserializer(self, deserializer: Any) -> "MessageList":
        """These messages decoding through ``deserializer`` (what a client attaches)."""
        if self._items is not None:
            return MessageList(m.with_deserializer(deserializer) for m in self._items)
        return MessageList.from_columns(c._replace(deserializer=deserializer)
                                        for c in self._columns)

    def _lazy_len(self) -> int:
        return self._starts[-1]

    def _lazy_iter(self) -> Iterator[ConsumedMessage]:
        if len(self._columns) == 1:
            return self._columns[0].messages()
        return chain.from_iterable(c.messages() for c in self._columns)

    def _lazy_item(self, i: int) -> ConsumedMessage:
        k = bisect.bisect_right(self._starts, i) - 1
        return self._columns[k].message(i - self._starts[k])

    def _lazy_drop(self) -> None:
        self._columns, self._starts = (), [0]
