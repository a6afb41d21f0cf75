"""Framing of protocol v1: an 8-byte header (magic, version, opcode, flags, u32 length)
followed by the payload (wire-protocol.md §3).

Pure code, no I/O: the asyncio server feeds ``FrameDecoder`` from ``data_received`` and the
socket client from ``recv``.
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

from flymq.errors import (MAX_FRAME_PAYLOAD, FrameTooLargeError, InvalidMagicError,
                          InvalidRequestError, InvalidVersionError, MessageTooLargeError,
                          ProtocolError)

__all__ = [
    "MAGIC", "VERSION", "HEADER_SIZE", "MAX_PAYLOAD", "FLAG_BINARY", "FLAG_GZIP", "CODEC_MASK",
    "HEADER", "Frame", "encode_frame", "FrameDecoder", "frame_payload", "gzip_payload",
]

MAGIC = 0xAF
VERSION = 0x01
HEADER_SIZE = 8
MAX_PAYLOAD = MAX_FRAME_PAYLOAD   # 32 MiB, header excluded (flymq.wire_limits)
FLAG_BINARY = 0x01
FLAG_GZIP = 0x02                  # codec number 1 shifted left by one
CODEC_MASK = 0x0E

HEADER = struct.Struct(">BBBBI")
_pack_header = HEADER.pack
_unpack_header = HEADER.unpack_from


class Frame(NamedTuple):
    """One decoded frame. ``op`` stays a plain int: unknown opcodes must reach the dispatcher."""

    op: int
    flags: int
    payload: bytes


def encode_frame(op: int, payload: bytes = b"", flags: int = FLAG_BINARY) -> bytes:
    """Header + payload as one bytes object (one ``sendall`` / ``write`` per frame)."""
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise MessageTooLargeError(n, MAX_PAYLOAD)
    return _pack_header(MAGIC, VERSION, op, flags, n) + payload


def check_header(magic: int, version: int, length: int, max_payload: int) -> None:
    """Header validation in the Go server's order: magic, version, length."""
    if magic != MAGIC:
        raise InvalidMagicError(magic)
    if version != VERSION:
        raise InvalidVersionError(version)
    if length > max_payload:
        raise FrameTooLargeError(length)


class FrameDecoder:
    """Incremental decoder: feed any slice of the byte stream, get the complete frames.

    Errors are detected as soon as the offending header byte arrives (a bad magic byte is
    detected from the first byte), so a server can close before reading a huge payload.
    Frames that were complete before the bad bytes are still returned (they deserve their
    replies); the error is then kept in :attr:`error` and raised by the next ``feed``.
    After an error the stream is unusable and the decoder must be discarded.
    """

    __slots__ = ("max_payload", "_buf", "error")

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self._buf = bytearray()
        self.error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buf)

    def one_frame(self, data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
        """``(op, flags)`` when ``data`` is exactly one whole, valid frame and nothing is
        buffered before it: the common request/response case, whose payload is
        ``data[HEADER_SIZE:]`` (no buffering, no copy). None otherwise: :meth:`feed` then
        decodes it, errors included."""
        if self._buf or self.error is not None or len(data) < HEADER_SIZE:
            return None
        magic, version, op, flags, length = _unpack_header(data)
        if len(data) != HEADER_SIZE + length or magic != MAGIC or version != VERSION \
                or length > self.max_payload:
            return None
        return op, flags

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        if self.error is not None:
            raise self.error
        head = self.one_frame(data)
        if head is not None:  # exactly one whole frame: no copy into the buffer
            payload = data[HEADER_SIZE:]
            return [Frame(head[0], head[1],
                          payload if type(payload) is bytes else bytes(payload))]
        frames: list[Frame] = []
        try:
            self._decode(data, frames)
        except ProtocolError as exc:
            if not frames:
                raise
            self.error = exc
            self._buf.clear()
        return frames

    def _decode(self, data: bytes | bytearray | memoryview, frames: list[Frame]) -> None:
        buf = self._buf
        buf += data
        pos, end = 0, len(buf)
        with memoryview(buf) as view:  # one copy per payload (a bytearray slice is another)
            while end - pos >= HEADER_SIZE:
                magic, version, op, flags, length = _unpack_header(buf, pos)
                check_header(magic, version, length, self.max_payload)
                stop = pos + HEADER_SIZE + length
                if stop > end:
                    break
                frames.append(Frame(op, flags, bytes(view[pos + HEADER_SIZE:stop])))
                pos = stop
        if pos:
            del buf[:pos]
        if 0 < len(buf) < HEADER_SIZE:  # partial header: reject a bad magic/version early
            if buf[0] != MAGIC:
                raise InvalidMagicError(buf[0])
            if len(buf) > 1 and buf[1] != VERSION:
                raise InvalidVersionError(buf[1])


def frame_payload(frame: Frame, max_payload: int = MAX_PAYLOAD) -> bytes:
    """The payload with its compression undone: gzip (codec ``0x02``) or none.

    A gzip payload is inflated in steps and refused as soon as its output passes
    ``max_payload``, so a 32 KB frame never makes more than one frame's worth of memory.
    """
    codec = frame.flags & CODEC_MASK
    if codec == 0:
        return frame.payload
    if codec != FLAG_GZIP:
        raise InvalidRequestError("unsupported compression codec")
    data = frame.payload
    d = zlib.decompressobj(wbits=31)  # gzip container only
    parts, size = [], 0
    try:
        while True:
            # in steps: between them the interpreter lock is free for the event loop (one
            # call inflating 32 MiB held it for ~15 ms of output-buffer work)
            part = d.decompress(data, _INFLATE_STEP)
            size += len(part)
            if size > max_payload:
                raise InvalidRequestError(
                    f"gzip: decompressed payload exceeds {max_payload} bytes")
            parts.append(part)
            data = d.unconsumed_tail
            if d.eof or (not data and len(part) < _INFLATE_STEP):
                break
    except zlib.error as exc:
        raise InvalidRequestError("gzip: invalid header" if "header" in str(exc)
                                  else f"gzip: {exc}") from None
    if not d.eof:
        raise InvalidRequestError("gzip: unexpected EOF")
    return parts[0] if len(parts) == 1 else b"".join(parts)


_INFLATE_STEP = 256 * 1024  # bytes of output per step of frame_payload


def gzip_payload(payload: bytes) -> bytes:
    """A gzip stream of ``payload`` for a frame sent with ``FLAG_BINARY | FLAG_GZIP``."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(payload) + c.flush()
