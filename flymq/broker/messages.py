"""Turning stored records into the messages readers get, at fetch speed.

Reads come back from storage as runs of decoded batches (columns). Readers get them as a
:class:`MessageList`, which keeps those columns and builds each message when it is read; the
timestamp stays in milliseconds and the headers stay None until a reader asks for them.
"""

from __future__ import annotations

from functools import partial
from itertools import repeat

from flymq.broker.storage import BatchRun
from flymq.message_list import MessageColumns, MessageList


def decode_headers(headers: tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in headers}


def encode_headers(headers: dict[str, str | bytes]) -> tuple[tuple[str, bytes], ...]:
    return tuple((str(name), value if isinstance(value, bytes) else str(value).encode("utf-8"))
                 for name, value in headers.items())


def to_messages(topic: str, partition: int, runs: list[BatchRun]) -> MessageList:
    """One message per record of ``runs``, in order, each built when it is read."""
    return MessageList.from_columns(map(partial(_columns_of, topic, partition), runs))


def _columns_of(topic: str, partition: int, run: BatchRun) -> MessageColumns:
    batch, start, stop = run
    keys = None if batch.keys is None else batch.keys[start:stop]
    if keys is not None and b"" in keys:  # readers see an empty key as no key
        keys = [k or None for k in keys]
    headers = None if batch.headers is None else \
        [decode_headers(h) if h else None for h in batch.headers[start:stop]]
    return MessageColumns(topic, partition, range(batch.base + start, batch.base + stop),
                          batch.values[start:stop], keys, batch.timestamps[start:stop], headers)


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
