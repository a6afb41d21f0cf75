"""The pyflymq.protocol framing surface (client-api.md §15)."""

from __future__ import annotations

import io

import pytest

import pyflymq.protocol as p
from flymq.errors import FrameTooLargeError, InvalidMagicError, InvalidVersionError


def test_constants_and_names() -> None:
    assert (p.MAGIC_BYTE, p.PROTOCOL_VERSION, p.HEADER_SIZE, p.MAX_MESSAGE_SIZE) == \
        (0xAF, 0x01, 8, 33554432)
    assert (p.FLAG_BINARY, p.FLAG_COMPRESSION_GZIP) == (0x01, 0x02)
    assert p.OpCode.PRODUCE == 0x01 and p.SubscribeMode.EARLIEST == "earliest"
    assert p.MessageTooLargeError is FrameTooLargeError


def test_header_bytes() -> None:
    h = p.Header(0xAF, 1, p.OpCode.FETCH, 1, 5)
    assert h.to_bytes() == bytes.fromhex("AF 01 07 01 00 00 00 05")
    assert p.Header.from_bytes(h.to_bytes()) == h
    with pytest.raises(ValueError):
        p.Header.from_bytes(b"\xaf\x01")
    with pytest.raises(ValueError):
        p.Header.from_bytes(bytes.fromhex("AF 01 EE 01 00 00 00 00"))     # unknown op
    with pytest.raises(InvalidMagicError):
        p.Header.from_bytes(bytes.fromhex("00 01 01 01 00 00 00 00"))


def test_read_write_message() -> None:
    buf = io.BytesIO()
    p.write_message(buf, p.OpCode.PRODUCE, b"abc")
    p.write_error(buf, "boom")
    buf.seek(0)
    msg = p.read_message(buf)
    assert msg.op == p.OpCode.PRODUCE and msg.payload == b"abc" and msg.header.flags == 0
    err = p.read_message(buf)
    assert err.op == p.OpCode.ERROR and p.ErrorResponse.decode(err.payload).message == "boom"
    with pytest.raises(EOFError, match="Connection closed"):
        p.read_header(buf)


@pytest.mark.parametrize("data,exc", [
    (b"\xaf\x01\x01", EOFError),
    (bytes.fromhex("00 01 01 01 00 00 00 00"), InvalidMagicError),
    (bytes.fromhex("AF 02 01 01 00 00 00 00"), InvalidVersionError),
    (bytes.fromhex("AF 01 01 01 02 00 00 01"), FrameTooLargeError),
])
def test_read_header_errors(data: bytes, exc: type) -> None:
    with pytest.raises(exc):
        p.read_header(io.BytesIO(data))


def test_incomplete_payload() -> None:
    with pytest.raises(EOFError, match="Incomplete payload"):
        p.read_message(io.BytesIO(bytes.fromhex("AF 01 01 01 00 00 00 05") + b"ab"))
