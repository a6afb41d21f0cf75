"""The byte layout of a record batch (see docs/storage-format.md) and its encode/decode.

A batch is the unit of append, CRC and compression. Everything except the base offset and
length is computed before the log lock is taken; the base offset is packed in front at
append time, which is why it sits outside the CRC (offsets are checked by continuity).
"""

from __future__ import annotations

import struct
from typing import Sequence

import crcmod.predefined
import lz4.block

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
_BASE = struct.Struct("<q")

# timestamp, expire_at (-1 = none), key_len (-1 = None), value_len, headers_len
RECORD = struct.Struct("<qqiII")
RECORD_SIZE = RECORD.size
_HNAME = struct.Struct("<H")
_HVALUE = struct.Struct("<I")

_tuple_new = tuple.__new__


class EncodedBatch:
    """A batch ready to append: its bytes after the base offset plus what the log tracks."""

    __slots__ = ("body", "count", "first_ts", "max_ts")

    def __init__(self, body: bytes, count: int, first_ts: int, max_ts: int):
        self.body, self.count, self.first_ts, self.max_ts = body, count, first_ts, max_ts

    def with_base(self, base_offset: int) -> list[bytes]:
        """The buffers to write for this batch at ``base_offset`` (no copy of the body)."""
        return [_BASE.pack(base_offset), self.body]


def _encode_headers(headers: Sequence[tuple[str, bytes]]) -> bytes:
    parts = []
    for name, value in headers:
        raw = name.encode()
        parts += (_HNAME.pack(len(raw)), raw, _HVALUE.pack(len(value)), value)
    return b"".join(parts)


def _decode_headers(data: bytes, pos: int, end: int) -> tuple[tuple[str, bytes], ...]:
    out = []
    while pos < end:
        (n,) = _HNAME.unpack_from(data, pos)
        name = data[pos + 2:pos + 2 + n].decode()
        pos += 2 + n
        (n,) = _HVALUE.unpack_from(data, pos)
        out.append((name, data[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return tuple(out)


def encode_batch(records: Sequence[Record], now_ms: int, *, producer_id: int = -1,
                 producer_epoch: int = -1, base_sequence: int = -1, transactional: bool = False,
                 control: bool = False, compression: str = "none") -> EncodedBatch:
    """Serialise records into one checksummed batch; timestamps of 0 become ``now_ms``."""
    if not records:
        raise ValueError("a batch needs at least one record")
    parts: list = []
    add = parts.append
    pack = RECORD.pack
    first_ts = records[0].timestamp or now_ms
    max_ts = first_ts
    for r in records:
        ts = r.timestamp or now_ms
        if ts > max_ts:
            max_ts = ts
        key, value, headers, expire_at = r.key, r.value, r.headers, r.expire_at
        if key is None and not headers and expire_at is None:   # the common shape
            add(pack(ts, -1, -1, len(value), 0))
            add(value)
            continue
        hb = _encode_headers(headers) if headers else b""
        add(pack(ts, -1 if expire_at is None else expire_at,
                 -1 if key is None else len(key), len(value), len(hb)))
        if key:
            add(key)
        add(value)
        if hb:
            add(hb)
    payload = b"".join(parts)
    size = len(payload)
    codec = CODECS[compression]
    if codec == CODEC_LZ4:
        payload = lz4.block.compress(payload, store_size=False)
    attrs = codec | (ATTR_TRANSACTIONAL if transactional else 0) | (ATTR_CONTROL if control else 0)
    covered = _COVERED.pack(MAGIC, attrs, len(records), first_ts, max_ts, producer_id,
                            producer_epoch, base_sequence, size)
    crc = crc32c(payload, crc32c(covered))
    length = 4 + len(covered) + len(payload)
    if length > MAX_BATCH_BYTES:
        raise ValueError(f"batch of {length} bytes exceeds the limit of {MAX_BATCH_BYTES}")
    return EncodedBatch(_LENGTH_CRC.pack(length, crc) + covered + payload, len(records),
                        first_ts, max_ts)


def batch_crc_ok(buf: bytes | memoryview, pos: int, total: int) -> bool:
    """Whether the batch of ``total`` bytes at ``pos`` in ``buf`` matches its stored CRC."""
    (stored,) = _HVALUE.unpack_from(buf, pos + PREFIX_SIZE)
    return crc32c(memoryview(buf)[pos + CRC_START:pos + total]) == stored


def decode_batch(buf: bytes, pos: int, total: int, skip: int, limit: int, where: str
                 ) -> list[LogRecord]:
    """Records ``skip`` .. ``skip+limit`` of the (CRC-checked) batch at ``pos`` in ``buf``."""
    (base, _length, _crc, _magic, attrs, count, _first, _max, pid, _epoch, _seq,
     size) = HEADER.unpack_from(buf, pos)
    start, end = pos + HEADER_SIZE, pos + total
    if attrs & CODEC_MASK == CODEC_LZ4:
        try:
            buf = lz4.block.decompress(buf[start:end], uncompressed_size=size)
        except lz4.block.LZ4BlockError as exc:
            raise CorruptRecordError(where, pos, f"lz4: {exc}") from None
        start, end = 0, size
    txn, ctrl = bool(attrs & ATTR_TRANSACTIONAL), bool(attrs & ATTR_CONTROL)
    unpack = RECORD.unpack_from
    p = start
    try:
        for _ in range(skip):
            _ts, _exp, kl, vl, hl = unpack(buf, p)
            p += RECORD_SIZE + (kl if kl > 0 else 0) + vl + hl
        out = []
        add = out.append
        offset = base + skip
        for offset in range(offset, offset + min(limit, count - skip)):
            ts, exp, kl, vl, hl = unpack(buf, p)
            p += RECORD_SIZE
            if kl < 0:
                key = None
            else:
                key = buf[p:p + kl]
                p += kl
            value = buf[p:p + vl]
            p += vl
            if hl:
                headers = _decode_headers(buf, p, p + hl)
                p += hl
            else:
                headers = ()
            add(_tuple_new(LogRecord, (offset, ts, key, value, headers,
                                       None if exp < 0 else exp, pid, txn, ctrl)))
    except (struct.error, UnicodeDecodeError) as exc:
        raise CorruptRecordError(where, pos, f"bad record layout: {exc}") from None
    if p > end:
        raise CorruptRecordError(where, pos, "records run past the end of the batch")
    return out
