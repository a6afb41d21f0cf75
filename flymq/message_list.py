"""The messages of one fetch, as a list that builds each message when it is read.

A fetch returns thousands of records. Building them all as ``ConsumedMessage`` objects up
front keeps thousands of container objects alive at once, and CPython's cyclic garbage
collector then walks them again and again while the reader works through them (a fifth of
the time of a bulk read). :class:`MessageList` keeps the fetch as columns instead (offsets,
values, keys, ...) and builds each message as it is read, in C (``map`` over ``zip``), so a
reader that processes and drops its messages never has more than one alive.

It behaves as a ``list`` of messages for everything a reader does: ``len``, indexing (negative
too), slicing (a plain ``list``), iteration, ``in``, ``==`` against lists, ``+``, ``repr`` and
pickling. It is also mutable like a list (``append``, ``sort``, ``del``, ...): the first change
turns it into a real list of messages, held inside. Two reads of the same index give equal
messages, not the same object; ``list(messages)`` keeps one set of objects.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, MutableSequence, Sequence
from itertools import chain, islice, repeat
from typing import Any, NamedTuple, overload

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


class MessageList(MutableSequence[ConsumedMessage]):
    """A list of ``ConsumedMessage`` kept as columns until it is changed (module docstring)."""

    __slots__ = ("_columns", "_starts", "_items")

    def __init__(self, messages: Iterable[ConsumedMessage] = ()) -> None:
        self._columns: tuple[MessageColumns, ...] = ()
        self._starts: list[int] = [0]
        self._items: list[ConsumedMessage] | None = list(messages)

    @classmethod
    def from_columns(cls, columns: Iterable[MessageColumns]) -> "MessageList":
        """The messages of ``columns``, in order, none built yet."""
        self = cls.__new__(cls)
        self._columns = tuple(c for c in columns if c.values)
        self._starts = [0]
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

    def _list(self) -> list[ConsumedMessage]:
        """The messages as the list held inside (built on the first change)."""
        if self._items is None:
            self._items = list(self)
            self._columns, self._starts = (), [0]
        return self._items

    # --- reading ------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._starts[-1] if self._items is None else len(self._items)

    def __iter__(self) -> Iterator[ConsumedMessage]:
        if self._items is not None:
            return iter(self._items)
        if len(self._columns) == 1:
            return self._columns[0].messages()
        return chain.from_iterable(c.messages() for c in self._columns)

    @overload
    def __getitem__(self, index: int) -> ConsumedMessage: ...
    @overload
    def __getitem__(self, index: slice) -> list[ConsumedMessage]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if self._items is not None:
            return self._items[index]
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step > 0:
                return list(islice(self, start, max(start, stop), step))
            return list(self)[index]
        i = index.__index__()
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("message index out of range")
        k = bisect.bisect_right(self._starts, i) - 1
        return self._columns[k].message(i - self._starts[k])

    def __reversed__(self) -> Iterator[ConsumedMessage]:
        return reversed(list(self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, MessageList)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __add__(self, other: Iterable[ConsumedMessage]) -> list[ConsumedMessage]:
        if not isinstance(other, (list, MessageList)):
            return NotImplemented
        return list(self) + list(other)

    def __radd__(self, other: Iterable[ConsumedMessage]) -> list[ConsumedMessage]:
        if not isinstance(other, list):
            return NotImplemented
        return other + list(self)

    def __repr__(self) -> str:
        return repr(list(self))

    def __reduce__(self) -> tuple[type, tuple[list[ConsumedMessage]]]:
        return MessageList, (list(self),)

    def copy(self) -> "MessageList":
        return MessageList(self)

    # --- changing (turns the columns into a list first) ----------------------------------
    def __setitem__(self, index: Any, value: Any) -> None:
        self._list()[index] = value

    def __delitem__(self, index: int | slice) -> None:
        del self._list()[index]

    def insert(self, index: int, value: ConsumedMessage) -> None:
        self._list().insert(index, value)

    def extend(self, values: Iterable[ConsumedMessage]) -> None:
        self._list().extend(values)

    def sort(self, *, key: Callable[[ConsumedMessage], Any] | None = None,
             reverse: bool = False) -> None:
        self._list().sort(key=key, reverse=reverse)

    def reverse(self) -> None:
        self._list().reverse()

    def clear(self) -> None:
        self._list().clear()
