"""Building thousands of objects per call at C speed (the read path's helpers).

:func:`cut` splits a buffer into many ``bytes`` in one ``struct`` call. :func:`gc_paused`
pauses the cyclic garbage collector while a reader builds thousands of container objects
(``Record`` tuples, header dicts): allocating them lets the collector run again and again over
everything still alive, which can cost more than building them (none of them can form a
cycle). Pausing collection for one bulk build removes that cost; the objects are still
examined by later collections. Fetches avoid the question altogether: a
:class:`~flymq.message_list.MessageList` builds each message only when it is read.
"""

from __future__ import annotations

import gc
import struct
import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

_lock = threading.Lock()
_depth = 0            # builds in progress, across threads
_paused = False       # whether we disabled collection (never re-enable what we did not disable)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block (nestable, thread-safe)."""
    global _depth, _paused
    with _lock:
        if _depth == 0 and gc.isenabled():
            gc.disable()
            _paused = True
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _paused:
                _paused = False
                gc.enable()


def cut(data: bytes, pos: int, sizes: Sequence[int]) -> tuple[tuple[bytes, ...], int]:
    """Consecutive pieces of ``data`` from ``pos`` with the given sizes, and where they end.

    One ``struct`` call with an ``<n>s`` code per piece is several times faster than slicing
    piece by piece; same-size pieces (the common case) reuse struct's cached format. Raises
    ``struct.error`` when the pieces run past the end of ``data``.
    """
    if not sizes:
        return (), pos
    first = sizes[0]
    if sizes.count(first) == len(sizes):
        fmt = f"{first}s" * len(sizes)
    else:
        fmt = "s".join(map(str, sizes)) + "s"
    return struct.unpack_from(fmt, data, pos), pos + sum(sizes)
