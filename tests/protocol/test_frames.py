"""Framing: encode_frame, the incremental FrameDecoder and payload decompression."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings, strategies as st

from flymq.errors import (FrameTooLargeError, InvalidMagicError, InvalidRequestError,
                          InvalidVersionError, MessageTooLargeError)
from flymq.protocol import (FLAG_BINARY, FLAG_GZIP, MAX_PAYLOAD, Frame, FrameDecoder, Op,
                            encode_frame, frame_payload, gzip_payload)


def test_encode_frame_header() -> None:
    assert encode_frame(Op.LIST_TOPICS) == bytes.fromhex("AF 01 08 01 00 00 00 00")
    assert encode_frame(0xC0, b"xy", flags=0) == bytes.fromhex("AF 01 C0 00 00 00 00 02") + b"xy"


def test_encode_frame_refuses_oversize_payload() -> None:
    class Huge(bytes):
        def __len__(self) -> int:
            return MAX_PAYLOAD + 1
    with pytest.raises(MessageTooLargeError):
        encode_frame(Op.PRODUCE, Huge())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=40)),
                max_size=6), st.integers(1, 17))
def test_decoder_reassembles_any_split(frames: list, step: int) -> None:
    stream = b"".join(encode_frame(op, payload, flags) for op, flags, payload in frames)
    dec = FrameDecoder()
    got: list[Frame] = []
    for i in range(0, len(stream), step):
        got += dec.feed(stream[i:i + step])
    assert got == [Frame(op, flags, payload) for op, flags, payload in frames]
    assert dec.buffered == 0


def test_decoder_byte_by_byte() -> None:
    stream = encode_frame(Op.PRODUCE, b"abc") + encode_frame(Op.FETCH, b"")
    dec = FrameDecoder()
    out = [f for b in stream for f in dec.feed(bytes([b]))]
    assert out == [Frame(Op.PRODUCE, FLAG_BINARY, b"abc"), Frame(Op.FETCH, FLAG_BINARY, b"")]


def test_bad_magic_detected_from_first_byte() -> None:
    with pytest.raises(InvalidMagicError) as info:
        FrameDecoder().feed(b"G")
    assert info.value.received == ord("G")
    assert isinstance(info.value, ValueError)


def test_bad_version_detected_from_second_byte() -> None:
    with pytest.raises(InvalidVersionError) as info:
        FrameDecoder().feed(b"\xaf\x02")
    assert info.value.received == 2


def test_oversize_length_rejected_before_payload() -> None:
    dec = FrameDecoder(max_payload=16)
    with pytest.raises(FrameTooLargeError) as info:
        dec.feed(bytes.fromhex("AF 01 01 01 00 00 00 11"))
    assert info.value.size == 17
    FrameDecoder().feed(bytes.fromhex("AF 01 01 01 02 00 00 00"))   # exactly 32 MiB is allowed
    with pytest.raises(FrameTooLargeError):
        FrameDecoder().feed(bytes.fromhex("AF 01 01 01 02 00 00 01"))


def test_error_in_second_frame_after_first_is_complete() -> None:
    """The complete frame before the bad bytes is returned; the error waits in ``error``."""
    dec = FrameDecoder()
    frames = dec.feed(encode_frame(Op.PRODUCE, b"x") + b"\x00" * 8)
    assert frames == [Frame(Op.PRODUCE, FLAG_BINARY, b"x")]
    assert isinstance(dec.error, InvalidMagicError)
    with pytest.raises(InvalidMagicError):
        dec.feed(encode_frame(Op.PRODUCE, b"y"))


def test_one_frame_is_exactly_one_whole_valid_frame_with_nothing_buffered() -> None:
    """The test behind feed's no-copy path and the server's fast path: anything else is
    left to feed (errors included)."""
    whole = encode_frame(Op.PRODUCE, b"abc", flags=FLAG_BINARY | FLAG_GZIP)
    dec = FrameDecoder(max_payload=3)
    assert dec.one_frame(whole) == (Op.PRODUCE, FLAG_BINARY | FLAG_GZIP)
    assert dec.one_frame(memoryview(whole)) == (Op.PRODUCE, FLAG_BINARY | FLAG_GZIP)
    for other in (whole[:-1], whole + whole, whole[:7], b"\x00" + whole[1:],
                  whole[:1] + b"\x02" + whole[2:], encode_frame(Op.PRODUCE, b"abcd")):
        assert dec.one_frame(other) is None, other
    dec.feed(whole[:3])
    assert dec.one_frame(whole) is None          # a partial frame is buffered before it
    bad = FrameDecoder()
    bad.feed(encode_frame(Op.FETCH) + b"\x00")
    assert bad.one_frame(whole) is None          # the stream already failed


def test_frame_payload_gzip_and_codecs() -> None:
    raw = b"payload" * 10
    assert frame_payload(Frame(1, FLAG_BINARY, raw)) == raw
    assert frame_payload(Frame(1, FLAG_BINARY | FLAG_GZIP, gzip.compress(raw))) == raw
    assert frame_payload(Frame(1, 0x03, gzip_payload(raw))) == raw
    for codec in (0x04, 0x06, 0x08):
        with pytest.raises(InvalidRequestError, match="unsupported compression codec"):
            frame_payload(Frame(1, FLAG_BINARY | codec, raw))
    with pytest.raises(InvalidRequestError, match="^gzip: invalid header"):
        frame_payload(Frame(1, 0x03, b"not gzip at all"))
    with pytest.raises(InvalidRequestError, match="^gzip"):
        frame_payload(Frame(1, 0x03, gzip.compress(raw)[:-6]))
    with pytest.raises(InvalidRequestError, match="exceeds"):
        frame_payload(Frame(1, 0x03, gzip.compress(b"\0" * 5000)), max_payload=4096)
