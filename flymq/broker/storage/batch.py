"""The byte layout of a record batch (see docs/storage-format.md) and its encode/decode.

A batch is the unit of append, CRC and compression. Everything except the base offset and
length is computed before the log lock is taken; the base offset is packed in front at
append time, which is why it sits outside the CRC (offsets are checked by continuity).
"""

from __future__ import annotations

import struct
import sys
from array import array
from functools import lru_cache, partial
from itertools import repeat
from operator import itemgetter
from typing import NamedTuple, Sequence

import crcmod.predefined
import lz4.block

from flymq.bulk import cut
from flymq.errors import CorruptRecordError

from .record import LogRecord, Record

try:  # hardware CRC-32C when available; the checksum (and so the files) are identical
    from crc32c import crc32c as crc32c  # type: ignore[import-not-found]
except ImportError:
    crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")

MAGIC = 1
CODEC_NONE, CODEC_LZ4 = 0, 1
CODEC_MASK = 0x03
ATTR_TRANSACTIONAL = 0x04
ATTR_CONTROL = 0x08
CODECS = {"none": CODEC_NONE, "lz4": CODEC_LZ4}

# base_offset, length (bytes after this field)
PREFIX = struct.Struct("<qI")
# base_offset, length, crc, magic, attributes, record_count, first_ts, max_ts,
# producer_id, producer_epoch, base_sequence, records_size (uncompressed)
HEADER = struct.Struct("<qIIBBIqqqhiI")
HEADER_SIZE = HEADER.size                 # 56
PREFIX_SIZE = PREFIX.size                 # 12
BASE_SIZE = 8                             # the base offset, written in front of the body
CRC_START = PREFIX_SIZE + 4               # the CRC covers [CRC_START, end of batch)
MIN_LENGTH = HEADER_SIZE - PREFIX_SIZE
MAX_BATCH_BYTES = 1 << 30
_COVERED = struct.Struct("<BBIqqqhiI")    # the header after the CRC field
_LENGTH_CRC = struct.Struct("<II")
_COVERED_VALUE = struct.Struct("<BBIqqqhiII")      # _COVERED, then one value-size column
_COVERED_KEY_VALUE = struct.Struct("<BBIqqqhiIiI")  # _COVERED, then key and value sizes
_COVERED_EXPIRY_VALUE = struct.Struct("<BBIqqqhiIqI")  # _COVERED, then expiry and value size
pack_base = struct.Struct("<q").pack      # the base offset in front of a batch's body

# attribute bits saying which optional record columns a batch carries (see the format doc)
HAS_TIMESTAMPS = 0x10                     # else every record has the batch's first timestamp
HAS_EXPIRY = 0x20
HAS_KEYS = 0x40
HAS_HEADERS = 0x80
_OPTIONAL_COLUMNS = HAS_TIMESTAMPS | HAS_EXPIRY | HAS_KEYS | HAS_HEADERS
_HNAME = struct.Struct("<H")
_HVALUE = struct.Struct("<I")

# Record fields by position, so that a plain tuple in Record's field order is a record too:
# the one-record produce passes one (a tuple subclass costs about 2,000 instructions more to
# make and free, a twentieth of the whole append).
_value_of, _key_of, _timestamp_of, _headers_of, _expiry_of = map(itemgetter, range(5))
_new_log_record = partial(tuple.__new__, LogRecord)


#: A batch ready to append: ``(body, count, first_ts, max_ts)``, its bytes after the base
#: offset and what the log tracks. A plain tuple: an object with an ``__init__`` cost a Python
#: call per append (2,400 of the 44,000 instructions of a single embedded produce).
EncodedBatch = tuple[bytes, int, int, int]


def _pack(code: str, items: Sequence[int]) -> bytes:
    """One little-endian column of fixed-size integers."""
    return struct.pack(f"<{len(items)}{code}", *items)


def _encode_headers(headers: Sequence[tuple[str, bytes]]) -> bytes:
    parts = []
    for name, value in headers:
        raw = name.encode()
        parts += (_HNAME.pack(len(raw)), raw, _HVALUE.pack(len(value)), value)
    return b"".join(parts)


def _decode_headers(data: bytes) -> tuple[tuple[str, bytes], ...]:
    out = []
    pos, end = 0, len(data)
    while pos < end:
        (n,) = _HNAME.unpack_from(data, pos)
        name = data[pos + 2:pos + 2 + n].decode()
        pos += 2 + n
        (n,) = _HVALUE.unpack_from(data, pos)
        value = data[pos + 4:pos + 4 + n]
        if len(value) != n:
            raise struct.error("header value runs past its block")
        out.append((name, value))
        pos += 4 + n
    return tuple(out)


def encode_batch(records: Sequence[Record], now_ms: int, *, producer_id: int = -1,
                 producer_epoch: int = -1, base_sequence: int = -1, transactional: bool = False,
                 control: bool = False, compression: str = "none") -> EncodedBatch:
    """Serialise records into one checksummed batch; timestamps of 0 become ``now_ms``.

    Each field is gathered as a column with C-level ``map`` calls; optional columns (keys,
    headers, expiry, distinct timestamps) are written only when some record needs them.
    One uncompressed record without headers (a single produce) takes :func:`encode_one`,
    which writes the very same bytes with one struct call.
    """
    n = len(records)
    if not n:
        raise ValueError("a batch needs at least one record")
    codec = CODECS[compression]
    attrs = codec | (ATTR_TRANSACTIONAL if transactional else 0) | (ATTR_CONTROL if control else 0)
    if n == 1 and codec == CODEC_NONE:
        value, key, ts, headers, expire_at = records[0]
        if not headers:  # the single-produce case: same bytes, fewer steps
            batch = encode_one(value, key, ts or now_ms, expire_at, attrs, producer_id,
                               producer_epoch, base_sequence)
            if batch is not None:
                return batch
    return _encode_columns(records, now_ms, attrs, producer_id, producer_epoch, base_sequence)


def encode_one(value: bytes, key: bytes | None, timestamp: int, expire_at: int | None,
               attrs: int = CODEC_NONE, producer_id: int = -1, producer_epoch: int = -1,
               base_sequence: int = -1) -> EncodedBatch | None:
    """One uncompressed record without headers as the very bytes :func:`encode_batch` writes
    for it, with one struct call, and the value copied once (its CRC is taken in place); None
    for a keyed record with an expiry, which takes the column encoder. ``attrs`` must carry no
    codec. The single produce's encoding: no record tuple, no columns."""
    if expire_at is None:
        if key is None:
            covered = _COVERED_VALUE.pack(MAGIC, attrs, 1, timestamp, timestamp, producer_id,
                                          producer_epoch, base_sequence, 4 + len(value),
                                          len(value))
        else:
            covered = _COVERED_KEY_VALUE.pack(
                MAGIC, attrs | HAS_KEYS, 1, timestamp, timestamp, producer_id, producer_epoch,
                base_sequence, 8 + len(key) + len(value), len(key), len(value)) + key
    elif key is None:  # a record with a TTL: the same bytes as the columns
        covered = _COVERED_EXPIRY_VALUE.pack(
            MAGIC, attrs | HAS_EXPIRY, 1, timestamp, timestamp, producer_id, producer_epoch,
            base_sequence, 12 + len(value), expire_at, len(value))
    else:
        return None
    length = 4 + len(covered) + len(value)
    if length > MAX_BATCH_BYTES:
        raise ValueError(f"batch of {length} bytes exceeds the limit of {MAX_BATCH_BYTES}")
    crc = crc32c(value, crc32c(covered))
    return b"".join((_LENGTH_CRC.pack(length, crc), covered, value)), 1, timestamp, timestamp


def encode_values(values: Sequence[bytes], now_ms: int, *, producer_id: int = -1,
                  producer_epoch: int = -1, base_sequence: int = -1, transactional: bool = False,
                  control: bool = False, compression: str = "none") -> EncodedBatch:
    """:func:`encode_batch` of ``[Record(v, timestamp=now_ms) for v in values]``, byte for
    byte, without the records: keyless, headerless, no-TTL values all stamped ``now_ms``.

    The batch is then just the header, one u32 column of value sizes and the values, so no
    column has to be gathered from record objects (the common producer batch).
    """
    n = len(values)
    if not n:
        raise ValueError("a batch needs at least one record")
    codec = CODECS[compression]
    attrs = codec | (ATTR_TRANSACTIONAL if transactional else 0) | (ATTR_CONTROL if control else 0)
    sizes = struct.pack(f"<{n}I", *map(len, values))
    data = b"".join(values)
    size = len(sizes) + len(data)
    if codec == CODEC_LZ4:
        sizes, data = b"", lz4.block.compress(sizes + data, store_size=False)
    covered = _COVERED.pack(MAGIC, attrs, n, now_ms, now_ms, producer_id,
                            producer_epoch, base_sequence, size)
    length = 4 + len(covered) + len(sizes) + len(data)
    if length > MAX_BATCH_BYTES:
        raise ValueError(f"batch of {length} bytes exceeds the limit of {MAX_BATCH_BYTES}")
    crc = crc32c(data, crc32c(sizes, crc32c(covered)))
    body = b"".join((_LENGTH_CRC.pack(length, crc), covered, sizes, data))  # one copy of data
    return body, n, now_ms, now_ms


def _encode_columns(records: Sequence[Record], now_ms: int, attrs: int, producer_id: int,
                    producer_epoch: int, base_sequence: int) -> EncodedBatch:
    """The general case of :func:`encode_batch` (any number of records, any columns)."""
    n = len(records)
    codec = attrs & CODEC_MASK
    stamps = list(map(_timestamp_of, records))
    if 0 in stamps:
        stamps = [ts or now_ms for ts in stamps]
    first_ts, max_ts = stamps[0], max(stamps)
    columns: list[bytes] = []
    blobs: list[bytes] = []
    if stamps.count(first_ts) != n:
        attrs |= HAS_TIMESTAMPS
        columns.append(_pack("q", stamps))
    expiry = list(map(_expiry_of, records))
    if expiry.count(None) != n:
        attrs |= HAS_EXPIRY
        columns.append(_pack("q", [-1 if e is None else e for e in expiry]))
    keys = list(map(_key_of, records))
    if keys.count(None) != n:
        attrs |= HAS_KEYS
        columns.append(_pack("i", [-1 if k is None else len(k) for k in keys]))
        blobs += filter(None, keys)
    headers = list(map(_headers_of, records))
    if any(headers):
        attrs |= HAS_HEADERS
        blocks = [_encode_headers(h) if h else b"" for h in headers]
        columns.append(_pack("I", list(map(len, blocks))))
        blobs += blocks
    values = list(map(_value_of, records))
    columns.append(_pack("I", list(map(len, values))))
    payload = b"".join(columns + blobs + values)
    size = len(payload)
    if codec == CODEC_LZ4:
        payload = lz4.block.compress(payload, store_size=False)
    covered = _COVERED.pack(MAGIC, attrs, n, first_ts, max_ts, producer_id,
                            producer_epoch, base_sequence, size)
    crc = crc32c(payload, crc32c(covered))
    length = 4 + len(covered) + len(payload)
    if length > MAX_BATCH_BYTES:
        raise ValueError(f"batch of {length} bytes exceeds the limit of {MAX_BATCH_BYTES}")
    return _LENGTH_CRC.pack(length, crc) + covered + payload, n, first_ts, max_ts


def batch_crc_ok(buf: bytes | memoryview, pos: int, total: int) -> bool:
    """Whether the batch of ``total`` bytes at ``pos`` in ``buf`` matches its stored CRC."""
    (stored,) = _HVALUE.unpack_from(buf, pos + PREFIX_SIZE)
    return crc32c(memoryview(buf)[pos + CRC_START:pos + total]) == stored


class DecodedBatch:
    """One CRC-checked batch as columns: element ``i`` of each list is record ``base + i``.

    ``keys``, ``headers`` and ``expire_at`` are None when no record of the batch has one, so
    readers can skip them as a whole. The lists are shared (the batch cache hands the same
    object to every reader) and must never be modified. ``record_bytes`` is set when the
    "batch" is a run of same-size one-record batches (see :func:`decode_single_run`): each
    record then takes that many bytes of file, and readers may take part of the run.
    """

    __slots__ = ("base", "count", "size", "timestamps", "keys", "values", "value_sizes",
                 "headers", "expire_at", "producer_id", "transactional", "control",
                 "record_bytes")

    def __init__(self, base: int, count: int, size: int, timestamps: list[int],
                 keys: Sequence[bytes | None] | None, values: Sequence[bytes],
                 value_sizes: Sequence[int],
                 headers: list[tuple] | None, expire_at: list[int | None] | None,
                 producer_id: int, transactional: bool, control: bool, record_bytes: int = 0):
        self.base, self.count, self.size, self.record_bytes = base, count, size, record_bytes
        self.timestamps, self.keys, self.values, self.value_sizes = (timestamps, keys, values,
                                                                     value_sizes)
        self.headers, self.expire_at = headers, expire_at
        self.producer_id, self.transactional, self.control = producer_id, transactional, control

    def records(self, start: int = 0, stop: int | None = None) -> list[LogRecord]:
        """Records ``start .. stop`` (batch-relative) as LogRecords, built in C."""
        stop = self.count if stop is None else stop
        n = stop - start
        return list(map(_new_log_record, zip(
            range(self.base + start, self.base + stop), self.timestamps[start:stop],
            repeat(None, n) if self.keys is None else self.keys[start:stop],
            self.values[start:stop],
            repeat((), n) if self.headers is None else self.headers[start:stop],
            repeat(None, n) if self.expire_at is None else self.expire_at[start:stop],
            repeat(self.producer_id), repeat(self.transactional), repeat(self.control))))


class BatchRun(NamedTuple):
    """Records ``start .. stop`` (batch-relative) of a decoded batch: one piece of a read."""

    batch: DecodedBatch
    start: int
    stop: int


def merge_runs(runs: list[BatchRun]) -> list[BatchRun]:
    """``runs`` with each stretch of back-to-back batches of one producer joined into one
    run, so that a read over many small batches (single produces) costs its readers one
    run instead of one per record."""
    out: list[BatchRun] = []
    group: list[BatchRun] = []
    for run in runs:
        if group and not _continues(group[-1], run):
            out.append(_joined(group))
            group = []
        group.append(run)
    if group:
        out.append(_joined(group))
    return out


def _continues(prev: BatchRun, run: BatchRun) -> bool:
    a, b = prev.batch, run.batch
    return (prev.stop == a.count and run.start == 0 and a.producer_id == b.producer_id
            and a.transactional == b.transactional and a.control == b.control)


def _joined(group: list[BatchRun]) -> BatchRun:
    if len(group) == 1:
        return group[0]
    timestamps: list[int] = []
    values: list[bytes] = []
    value_sizes: list[int] = []
    for batch, start, stop in group:
        timestamps += batch.timestamps[start:stop]
        values += batch.values[start:stop]
        value_sizes += batch.value_sizes[start:stop]
    first = group[0]
    n = len(values)
    return BatchRun(DecodedBatch(
        first.batch.base + first.start, n, sum(run.batch.size for run in group), timestamps,
        _joined_column(group, "keys", None), values, value_sizes,
        _joined_column(group, "headers", ()), _joined_column(group, "expire_at", None),
        first.batch.producer_id, first.batch.transactional, first.batch.control), 0, n)


def _joined_column(group: list[BatchRun], name: str, missing: object) -> list | None:
    """One optional column over ``group`` (None when no batch has it)."""
    if all(getattr(run.batch, name) is None for run in group):
        return None
    out: list = []
    for batch, start, stop in group:
        column = getattr(batch, name)
        out += repeat(missing, stop - start) if column is None else column[start:stop]
    return out


def decode_batch(buf: bytes, pos: int, total: int, where: str) -> DecodedBatch:
    """The (CRC-checked) batch of ``total`` bytes at ``pos`` in ``buf``, as columns."""
    (base, _length, _crc, _magic, attrs, n, first_ts, _max, pid, _epoch, _seq,
     size) = HEADER.unpack_from(buf, pos)
    start, end = pos + HEADER_SIZE, pos + total
    if attrs & CODEC_MASK == CODEC_LZ4:
        try:
            buf = lz4.block.decompress(buf[start:end], uncompressed_size=size)
        except lz4.block.LZ4BlockError as exc:
            raise CorruptRecordError(where, pos, f"lz4: {exc}") from None
        start, end = 0, len(buf)
    elif end - start != size:
        raise CorruptRecordError(where, pos, "records size does not match the batch length")
    elif n == 1 and not attrs & _OPTIONAL_COLUMNS:  # a single produce: just its value
        value = buf[start + 4:end]
        if _HVALUE.unpack_from(buf, start)[0] != len(value):
            raise CorruptRecordError(where, pos, "records do not fill the batch exactly")
        return DecodedBatch(base, 1, total, [first_ts], None, (value,), (len(value),), None,
                            None, pid, bool(attrs & ATTR_TRANSACTIONAL),
                            bool(attrs & ATTR_CONTROL))
    try:
        p = start
        if attrs & HAS_TIMESTAMPS:
            stamps = list(struct.unpack_from(f"<{n}q", buf, p))
            p += 8 * n
        else:
            stamps = [first_ts] * n
        expire_at = None
        if attrs & HAS_EXPIRY:
            expire_at = [None if e < 0 else e
                         for e in struct.unpack_from(f"<{n}q", buf, p)]
            p += 8 * n
        key_sizes = header_sizes = None
        if attrs & HAS_KEYS:
            key_sizes = struct.unpack_from(f"<{n}i", buf, p)
            p += 4 * n
        if attrs & HAS_HEADERS:
            header_sizes = struct.unpack_from(f"<{n}I", buf, p)
            p += 4 * n
        value_sizes = struct.unpack_from(f"<{n}I", buf, p)
        p += 4 * n
        keys = headers = None
        if key_sizes is not None:
            keys, p = cut(buf, p, [k if k > 0 else 0 for k in key_sizes])
            if -1 in key_sizes:
                keys = [None if k < 0 else key for key, k in zip(keys, key_sizes)]
        if header_sizes is not None:
            blocks, p = cut(buf, p, header_sizes)
            headers = [_decode_headers(b) if b else () for b in blocks]
        values, p = cut(buf, p, value_sizes)
    except (struct.error, UnicodeDecodeError) as exc:
        raise CorruptRecordError(where, pos, f"bad record layout: {exc}") from None
    if p != end:
        raise CorruptRecordError(where, pos, "records do not fill the batch exactly")
    return DecodedBatch(base, n, total, stamps, keys, values, value_sizes, headers, expire_at,
                        pid, bool(attrs & ATTR_TRANSACTIONAL), bool(attrs & ATTR_CONTROL))


#: Fewer look-alike one-record batches than this are decoded one by one.
MIN_SINGLE_RUN = 8
_RUN_CHUNK = 4096                         # batches cut per struct call, at most
_SINGLE_OVERHEAD = HEADER_SIZE + 4        # a one-record batch: header, value size, value
#: Where, in a one-record batch, the fields that every batch of a run shares sit: the length,
#: magic + attributes + record count, producer id, records size and value size. The rest is
#: the base offset (checked for continuity), the CRC, the timestamps, epoch and sequence.
_SHARED_BYTES = (*range(8, 12), *range(16, 22), *range(38, 46), *range(52, 60))
_TIMESTAMP_AT = 22                        # the first timestamp, after the record count
_SIZES = struct.Struct("<II")


def decode_single_run(buf: bytes, pos: int, base: int, max_count: int, file_pos: int,
                      where: str) -> DecodedBatch | None:
    """The run of up to ``max_count`` one-record batches at ``pos`` in ``buf`` laid out like
    the first (same size, attributes and producer, no optional columns, no compression),
    with offsets ``base``, ``base + 1``, ..., as one CRC-checked DecodedBatch; None when
    fewer than :data:`MIN_SINGLE_RUN` such batches follow.

    Single produces store one batch per record, and decoding them one at a time costs
    microseconds of Python each. Same-size batches sit at a fixed stride, so a few C-level
    calls cut and check thousands of them at once; the run ends at the first batch that
    differs, which the caller then decodes (or reports as corrupt) on its own.
    ``file_pos`` is the file position of ``buf[pos]``, for error messages.
    """
    (_, length, _, _, attrs, count, _, _, pid, _, _, _) = HEADER.unpack_from(buf, pos)
    stride = PREFIX_SIZE + length
    limit = min(max_count, (len(buf) - pos) // stride)
    if (count != 1 or attrs & (CODEC_MASK | _OPTIONAL_COLUMNS) or limit < MIN_SINGLE_RUN
            or _PREFIX_AT(buf, pos + (MIN_SINGLE_RUN - 1) * stride)[1] != length):
        return None
    if _SIZES.unpack_from(buf, pos + HEADER_SIZE - 4) != (stride - HEADER_SIZE,
                                                         stride - _SINGLE_OVERHEAD):
        return None  # malformed: the caller's one-by-one decode reports it
    stamps: list[int] = []
    values: list[bytes] = []
    chunk = MIN_SINGLE_RUN
    while len(values) < limit:
        n = 1 << ((limit - len(values)).bit_length() - 1)       # a power of two: few layouts
        n = min(n, chunk)
        done = len(values)
        got_stamps, got_values = _cut_singles(buf, pos, done, base, n, stride,
                                              file_pos + done * stride, where)
        stamps += got_stamps
        values += got_values
        if len(got_values) < n:
            break
        chunk = min(chunk * 2, _RUN_CHUNK)
    n = len(values)
    return DecodedBatch(base, n, n * stride, stamps, None, values, [stride - _SINGLE_OVERHEAD] * n,
                        None, None, pid, bool(attrs & ATTR_TRANSACTIONAL),
                        bool(attrs & ATTR_CONTROL), stride)


_PREFIX_AT = PREFIX.unpack_from


@lru_cache(maxsize=64)
def _single_layouts(stride: int, n: int) -> tuple[struct.Struct, struct.Struct]:
    """Structs cutting ``n`` one-record batches of ``stride`` bytes into, per batch, (the
    CRC-covered header, value) and (first timestamp)."""
    value = stride - _SINGLE_OVERHEAD
    return (struct.Struct("<" + f"{CRC_START}x{_SINGLE_OVERHEAD - CRC_START}s{value}s" * n),
            struct.Struct("<" + f"{_TIMESTAMP_AT}xq{stride - _TIMESTAMP_AT - 8}x" * n))


def _cut_singles(buf: bytes, run_pos: int, done: int, base: int, n: int, stride: int,
                 file_pos: int, where: str) -> tuple[tuple[int, ...], tuple[bytes, ...]]:
    """(timestamps, values) of the leading batches of the ``n`` that follow the ``done``
    first ones of the run at ``run_pos`` and continue it; raises CorruptRecordError at the
    first of them failing its CRC.

    Each field is checked one byte at a time for all ``n`` batches at once, as a strided
    slice of ``buf`` (C speed, and no Python object per batch): offsets must count up,
    shared fields must repeat the run's first batch, CRCs must match the computed ones.
    """
    pos = run_pos + done * stride
    end = pos + n * stride
    offsets = _little_endian(array("q", range(base + done, base + done + n)))
    good = n
    for k in range(BASE_SIZE):
        good = min(good, _leading(buf[pos + k:end:stride], offsets[k::BASE_SIZE]))
    for k in _SHARED_BYTES:
        good = min(good, _leading(buf[pos + k:end:stride], buf[run_pos + k:run_pos + k + 1] * n))
    head, stamps = _single_layouts(stride, n)
    cols = head.unpack_from(buf, pos)
    values = cols[1::2]
    crcs = _little_endian(array("I", map(crc32c, values, map(crc32c, cols[0::2]))))
    for k in range(4):
        bad = _leading(buf[pos + PREFIX_SIZE + k:end:stride], crcs[k::4])
        if bad < good:
            raise CorruptRecordError(where, file_pos + bad * stride, "CRC-32C mismatch")
    if good < n:
        return stamps.unpack_from(buf, pos)[:good], values[:good]
    return stamps.unpack_from(buf, pos), values


def _little_endian(items: array) -> bytes:
    """The bytes of ``items`` as the file stores numbers (little-endian)."""
    if sys.byteorder == "big":
        items.byteswap()
    return items.tobytes()


def _leading(column: bytes, expected: bytes) -> int:
    """How many leading bytes of ``column`` equal those of ``expected`` (C speed when all do)."""
    if column == expected:
        return len(column)
    return next(i for i, (a, b) in enumerate(zip(column, expected)) if a != b)
