"""Checks of request fields that hold on every front door.

The broker runs them for embedded callers and the TCP client runs them before encoding a
request, so a bad argument gets the same :class:`InvalidRequestError` on both transports
instead of whatever the code below it happens to raise (a ``struct.error`` from the encoder,
a ``TypeError`` from a comparison, or a value stored and then unreadable).
"""

from __future__ import annotations

import operator

from flymq.errors import InvalidRequestError

I32_MAX = 2**31 - 1
I64_MAX = 2**63 - 1


def check_int(what: str, value: object, low: int = 0, high: int = I64_MAX) -> int:
    """``value`` as an int in ``[low, high]``; ``bool`` is refused (``True`` is not a count)."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = None
    if number is None:
        raise InvalidRequestError(f"invalid {what}: {value!r} is not an integer")
    if not low <= number <= high:
        raise InvalidRequestError(f"invalid {what}: {number}",
                                  hint=f"The {what} must be from {low} to {high}.")
    return number


def check_str(what: str, value: object) -> str:
    """``value`` if it is a ``str``."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"invalid {what}: {value!r} is not a string")
    return value


def check_partition(value: object, *, produce: bool = False) -> int:
    """A partition number (an i32 on the wire): from 0, or for a produce also negative,
    which lets the broker choose."""
    return check_int("partition", value, -I32_MAX - 1 if produce else 0, I32_MAX)
