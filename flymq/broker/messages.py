"""Turning stored records into the messages readers get, at fetch speed.

Reads come back from storage as runs of decoded batches (columns). A message is a tuple, so a
whole run becomes messages in one ``map`` over ``zip``ped columns without a Python-level loop;
the timestamp stays in milliseconds and the headers stay None until a reader asks for them.
"""

from __future__ import annotations

from itertools import repeat

from flymq.broker.storage import BatchRun
from flymq.bulk import gc_paused
from flymq.models import ConsumedMessage

_new_message = ConsumedMessage.from_fields  # type: ignore[attr-defined]


def decode_headers(headers: tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in headers}


def encode_headers(headers: dict[str, str | bytes]) -> tuple[tuple[str, bytes], ...]:
    return tuple((str(name), value if isinstance(value, bytes) else str(value).encode("utf-8"))
                 for name, value in headers.items())


def to_messages(topic: str, partition: int, runs: list[BatchRun]) -> list[ConsumedMessage]:
    """One message per record of ``runs``, in order."""
    if len(runs) == 1 and runs[0].stop - runs[0].start == 1:  # CONSUME: nothing to pause for
        return _build(topic, partition, runs)
    with gc_paused():
        return _build(topic, partition, runs)


def _build(topic: str, partition: int, runs: list[BatchRun]) -> list[ConsumedMessage]:
    out: list[ConsumedMessage] = []
    for batch, start, stop in runs:
        n = stop - start
        if batch.keys is None:
            keys = repeat(None, n)
        else:
            keys = batch.keys[start:stop]
            if b"" in keys:  # readers see an empty key as no key
                keys = [k or None for k in keys]
        if batch.headers is None:
            headers = repeat(None, n)
        else:
            headers = [decode_headers(h) if h else None for h in batch.headers[start:stop]]
        out += map(_new_message, zip(
            repeat(topic), repeat(partition), range(batch.base + start, batch.base + stop),
            batch.values[start:stop], keys, batch.timestamps[start:stop], headers,
            repeat(0), repeat(None)))
    return out


def columns(runs: list[BatchRun]) -> tuple[list[int], list[int], list[bytes | None],
                                           list[bytes], list[dict[str, str] | None]]:
    """(offsets, timestamps in ms, keys, values, headers) of the records of ``runs``, for
    encoding a reply without building messages; keys and headers may be None."""
    offsets: list[int] = []
    timestamps: list[int] = []
    keys: list[bytes | None] = []
    values: list[bytes] = []
    headers: list[dict[str, str] | None] = []
    for batch, start, stop in runs:
        n = stop - start
        offsets += range(batch.base + start, batch.base + stop)
        timestamps += batch.timestamps[start:stop]
        keys += repeat(None, n) if batch.keys is None else batch.keys[start:stop]
        values += batch.values[start:stop]
        headers += repeat(None, n) if batch.headers is None else \
            [decode_headers(h) if h else None for h in batch.headers[start:stop]]
    return offsets, timestamps, keys, values, headers
