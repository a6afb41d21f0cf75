"""Where a damaged stretch of a segment ends: the next batch that is sound again.

A batch that fails its length, offset or CRC check hides every record after it from a walk
that follows batch lengths. Readers, recovery of internal logs and ``flymq inspect`` then need
to know how far the damage reaches: the first later batch that carries the expected magic,
a base offset beyond the damage, a length that fits and a matching CRC. Offsets from there
on are readable again; those before it (down to the first unread offset) are lost.
"""

from __future__ import annotations

import os
from typing import Iterable, NamedTuple

from .batch import HEADER, HEADER_SIZE, MAGIC, MIN_LENGTH, PREFIX_SIZE, batch_crc_ok

_MAGIC_AT = 16                    # the magic byte's position in a batch header
_MAGIC_BYTE = bytes([MAGIC])
_SCAN_WINDOW = 1 << 20            # bytes of candidate headers read per pread
NO_END = 1 << 63                  # the end offset of a last segment, which no file records


class Damage(NamedTuple):
    """A damaged stretch of one segment file: offsets ``[first_offset, end_offset)`` cannot
    be read; bytes ``[position, end_position)`` hold them. ``end_position`` is where sound
    batches resume (the file's end when none do)."""

    first_offset: int
    end_offset: int
    position: int
    end_position: int


def locate_damage(fd: int, position: int, limit: int, first_offset: int, end_offset: int,
                  hints: Iterable[tuple[int, int]] = ()) -> Damage:
    """The damage starting at byte ``position`` (the first unread offset ``first_offset``) of
    a segment whose records end at ``end_offset`` and whose bytes end at ``limit``.

    ``hints`` are ``(base offset, position)`` of batch boundaries known from the index,
    oldest first: the first one that is sound bounds the byte-by-byte search, which looks
    only at positions holding the magic byte (``bytes.find``, C speed).
    """
    bound, bound_base = limit, end_offset
    for base, at in hints:
        if at > position and _sound_at(fd, at, limit, first_offset, end_offset) == base:
            bound, bound_base = at, base
            break
    found = _search(fd, position, bound, limit, first_offset, end_offset)
    if found is not None:
        return Damage(first_offset, found[1], position, found[0])
    return Damage(first_offset, bound_base, position, bound)


def _search(fd: int, position: int, bound: int, limit: int, lo: int, hi: int
            ) -> tuple[int, int] | None:
    """(position, base) of the first sound batch in ``(position, bound)``, else None."""
    head = os.pread(fd, PREFIX_SIZE, position)
    if len(head) == PREFIX_SIZE:  # the damaged batch's own length: right unless it was hit
        after = position + PREFIX_SIZE + int.from_bytes(head[8:12], "little")
        if after < bound:
            base = _sound_at(fd, after, limit, lo, hi)
            if base is not None:
                return after, base
    start = position + 1
    while start < bound:
        window = os.pread(fd, min(_SCAN_WINDOW, bound - start) + HEADER_SIZE, start)
        usable = min(_SCAN_WINDOW, bound - start)
        i = window.find(_MAGIC_BYTE, _MAGIC_AT)
        while 0 <= i - _MAGIC_AT < usable:
            at = start + i - _MAGIC_AT
            base = _sound_at(fd, at, limit, lo, hi)
            if base is not None:
                return at, base
            i = window.find(_MAGIC_BYTE, i + 1)
        start += usable
    return None


def _sound_at(fd: int, at: int, limit: int, lo: int, hi: int) -> int | None:
    """The base offset of a sound batch at byte ``at`` holding offsets within ``(lo, hi)``,
    else None."""
    raw = os.pread(fd, HEADER_SIZE, at)
    if len(raw) < HEADER_SIZE:
        return None
    base, length, _, magic, _, count, *_ = HEADER.unpack(raw)
    total = PREFIX_SIZE + length
    if (magic != MAGIC or length < MIN_LENGTH or at + total > limit or count < 1
            or not lo < base < hi or base + count > hi):
        return None
    return base if batch_crc_ok(os.pread(fd, total, at), 0, total) else None
