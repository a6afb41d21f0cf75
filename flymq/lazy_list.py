"""A list whose items are built only when they are read.

Reads and batch produces hand back thousands of result objects at once (messages, record
metadata). Building them all up front costs more than the work that produced them, and keeps
thousands of container objects alive for CPython's cyclic garbage collector to walk again and
again. A :class:`LazyList` keeps what the items are made of (columns) and builds each item as it
is read, in C where the subclass can (``map`` over ``zip``), so a caller that processes and
drops its items never has more than one alive, and a caller that ignores them pays nothing.

It behaves as a ``list`` for everything a caller does: ``len``, indexing (negative too), slicing
(a plain ``list``), iteration, ``in``, ``==`` against lists, ``+``, ``repr``, ``copy`` and
pickling. It is also mutable like a list (``append``, ``sort``, ``del``, ...): the first change
builds every item into a real list, held inside. Two reads of one index give equal items, not
the same object; ``list(items)`` keeps one set of objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableSequence
from itertools import islice
from typing import Any, TypeVar, overload

T = TypeVar("T")


class LazyList(MutableSequence[T]):
    """Base of the lazy result lists; a subclass fills in the four ``_lazy_*`` methods and a
    constructor that sets ``_items`` to None."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: list[T] | None = list(items)

    # --- what a subclass provides (used only while _items is None) ---------------------------
    def _lazy_len(self) -> int:
        raise NotImplementedError

    def _lazy_iter(self) -> Iterator[T]:
        raise NotImplementedError

    def _lazy_item(self, i: int) -> T:
        """Item ``i``, with ``0 <= i < len(self)``."""
        raise NotImplementedError

    def _lazy_drop(self) -> None:
        """Forget the columns once the items are built (they are no longer needed)."""

    def _list(self) -> list[T]:
        """The items as the list held inside (built on the first change)."""
        if self._items is None:
            self._items = list(self._lazy_iter())
            self._lazy_drop()
        return self._items

    # --- reading ------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._lazy_len() if self._items is None else len(self._items)

    def __iter__(self) -> Iterator[T]:
        return self._lazy_iter() if self._items is None else iter(self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if self._items is not None:
            return self._items[index]
        n = self._lazy_len()
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step > 0:
                return list(islice(self._lazy_iter(), start, max(start, stop), step))
            return list(self._lazy_iter())[index]
        i = index.__index__()
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{type(self).__name__} index out of range")
        return self._lazy_item(i)

    def __reversed__(self) -> Iterator[T]:
        return reversed(list(self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, LazyList)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __add__(self, other: Iterable[T]) -> list[T]:
        if not isinstance(other, (list, LazyList)):
            return NotImplemented
        return list(self) + list(other)

    def __radd__(self, other: Iterable[T]) -> list[T]:
        if not isinstance(other, list):
            return NotImplemented
        return other + list(self)

    def __repr__(self) -> str:
        return repr(list(self))

    def __reduce__(self) -> tuple[type, tuple[list[T]]]:
        return type(self), (list(self),)

    def copy(self) -> "LazyList[T]":
        return type(self)(self)

    # --- changing (builds the items into a list first) ---------------------------------------
    def __setitem__(self, index: Any, value: Any) -> None:
        self._list()[index] = value

    def __delitem__(self, index: int | slice) -> None:
        del self._list()[index]

    def insert(self, index: int, value: T) -> None:
        self._list().insert(index, value)

    def extend(self, values: Iterable[T]) -> None:
        self._list().extend(list(values) if values is self else values)

    def sort(self, *, key: Callable[[T], Any] | None = None, reverse: bool = False) -> None:
        self._list().sort(key=key, reverse=reverse)

    def reverse(self) -> None:
        self._list().reverse()

    def clear(self) -> None:
        self._list().clear()
