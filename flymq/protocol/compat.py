"""The ``pyflymq.protocol`` framing surface (client-api.md §15), built on ``frames``.

Upstream code and tests import these names from ``pyflymq.protocol`` (an alias of
``flymq.protocol``): header/message value objects and blocking helpers over file-like objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from flymq.errors import (FrameTooLargeError, InvalidMagicError, InvalidVersionError,
                          ProtocolError)
from flymq.models import SubscribeMode
from flymq.protocol.frames import (FLAG_BINARY, FLAG_GZIP, HEADER, HEADER_SIZE, MAGIC,
                                   MAX_PAYLOAD, VERSION, check_header)
from flymq.protocol.messages import ErrorResponse
from flymq.protocol.opcodes import Op

__all__ = [
    "MAGIC_BYTE", "PROTOCOL_VERSION", "HEADER_SIZE", "MAX_MESSAGE_SIZE", "FLAG_BINARY",
    "FLAG_COMPRESSION_GZIP", "OpCode", "SubscribeMode", "Header", "Message", "read_header",
    "write_header", "read_message", "write_message", "write_error", "ProtocolError",
    "InvalidMagicError", "InvalidVersionError", "MessageTooLargeError",
]

MAGIC_BYTE = MAGIC
PROTOCOL_VERSION = VERSION
MAX_MESSAGE_SIZE = MAX_PAYLOAD
FLAG_COMPRESSION_GZIP = FLAG_GZIP
OpCode = Op
MessageTooLargeError = FrameTooLargeError   # the protocol-level one, not errors.MessageTooLargeError


def _op(value: int) -> Op:
    try:
        return Op(value)
    except ValueError:
        raise ValueError(f"Unknown operation code: 0x{value:02x}") from None


@dataclass(frozen=True)
class Header:
    magic: int
    version: int
    op: Op
    flags: int
    length: int

    def to_bytes(self) -> bytes:
        return HEADER.pack(self.magic, self.version, self.op, self.flags, self.length)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Header":
        if len(data) != HEADER_SIZE:
            raise ValueError(f"Header must be {HEADER_SIZE} bytes, got {len(data)}")
        magic, version, op, flags, length = HEADER.unpack(data)
        if magic != MAGIC:
            raise InvalidMagicError(magic)
        return cls(magic, version, _op(op), flags, length)


@dataclass(frozen=True)
class Message:
    header: Header
    payload: bytes

    @property
    def op(self) -> Op:
        return self.header.op


def _read_exact(reader: BinaryIO, n: int, what: str) -> bytes:
    data = b""
    while len(data) < n:
        chunk = reader.read(n - len(data))
        if not chunk:
            if not data and what == "header":
                raise EOFError("Connection closed")
            raise EOFError(f"Incomplete {what}: got {len(data)} of {n} bytes")
        data += chunk
    return data


def read_header(reader: BinaryIO) -> Header:
    """Checks in the Go server's order: magic, version, length (then the opcode)."""
    magic, version, op, flags, length = HEADER.unpack(_read_exact(reader, HEADER_SIZE, "header"))
    check_header(magic, version, length, MAX_PAYLOAD)
    return Header(magic, version, _op(op), flags, length)


def write_header(writer: BinaryIO, header: Header) -> None:
    writer.write(header.to_bytes())


def read_message(reader: BinaryIO) -> Message:
    header = read_header(reader)
    return Message(header, _read_exact(reader, header.length, "payload"))


def write_message(writer: BinaryIO, op: int, payload: bytes = b"", flags: int = 0) -> None:
    if len(payload) > MAX_PAYLOAD:
        raise MessageTooLargeError(len(payload))
    writer.write(HEADER.pack(MAGIC, VERSION, op, flags, len(payload)) + payload)


def write_error(writer: BinaryIO, error: str | BaseException) -> None:
    """An ERROR frame in the structured layout every SDK decodes (E-STRUCT)."""
    write_message(writer, Op.ERROR, ErrorResponse(str(error)).encode(), FLAG_BINARY)
