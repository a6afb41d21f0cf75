"""Time to live: when a record stops being delivered, and removing records that did.

Every read path already skips a record whose ``expire_at`` has passed
(``partition.is_live``); this module holds the rest: the limits a TTL must keep, the expiry a
topic's default TTL gives, and how far the head of a partition is expired, so that retention
can delete those segments and count the records.
"""

from __future__ import annotations

from flymq.broker.storage import PartitionLog
from flymq.checks import I64_MAX, check_int
from flymq.errors import InvalidRequestError, OffsetOutOfRangeError

_SCAN_RECORDS = 10_000
_SCAN_BYTES = 16 << 20


def check_ttl(ttl_ms: object, maximum: int) -> int:
    """``ttl_ms`` if it is 1 ms .. ``maximum``; InvalidRequestError otherwise."""
    ttl = check_int("ttl_ms", ttl_ms, -I64_MAX - 1)
    if not 1 <= ttl <= maximum:
        raise InvalidRequestError(
            f"invalid ttl_ms: {ttl} (must be 1 to {maximum})",
            hint="A record (or topic) without a TTL never expires: leave ttl_ms unset for "
                 "one; raise max_ttl_ms in the broker configuration for longer lives.")
    return ttl


def first_live_offset(log: PartitionLog, offset: int, end: int, now_ms: int) -> int:
    """The first offset at or after ``offset`` (below ``end``) whose record is still live,
    or ``end``: every record before it has expired for good (clock time only moves on)."""
    try:
        while offset < end:
            runs = log.read_runs(offset, _SCAN_RECORDS, _SCAN_BYTES)
            if not runs:
                return offset
            for batch, start, stop in runs:
                expiries = batch.expire_at
                if expiries is None:
                    return batch.base + start
                for i in range(start, stop):
                    e = expiries[i]
                    if e is None or e > now_ms:
                        return batch.base + i
                offset = batch.base + stop
    except OffsetOutOfRangeError:  # retention moved the start meanwhile
        return max(offset, log.start_offset)
    return offset
