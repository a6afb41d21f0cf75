"""Framing and error replies (wire-protocol.md §3.3, §5.3), over raw sockets."""

from __future__ import annotations

import pytest

from flymq import protocol as p
from flymq.errors import TopicNotFoundError
from flymq.protocol import Op
from flymq.protocol.codec import BUFFER_TOO_SMALL, INVALID_FORMAT
from srvutil import RawClient, error_text, frame, only_connection


def _still_open(c: RawClient) -> None:
    assert c.call(Op.LIST_TOPICS).topics is not None


def test_bad_magic_closes_without_reply(server):
    with RawClient(server.address) as c:
        c.send(frame(Op.LIST_TOPICS, magic=0x00))
        assert c.read_until_closed() == b""


def test_bad_magic_first_byte_is_enough(server):
    with RawClient(server.address) as c:
        c.send(b"GET / HTTP/1.1\r\n\r\n")
        assert c.read_until_closed() == b""


def test_valid_frames_before_garbage_are_answered_then_closed(server):
    with RawClient(server.address) as c:
        c.send(frame(Op.LIST_TOPICS) + frame(Op.LIST_TOPICS) + b"GARBAGE!")
        first, second = c.recv_frame(), c.recv_frame()
        assert first.op == second.op == Op.LIST_TOPICS
        assert c.read_until_closed() == b""


def test_bad_version_closes_after_structured_error(server):
    with RawClient(server.address) as c:
        c.send(frame(Op.LIST_TOPICS, version=2))
        data = c.read_until_closed()
    assert data == p.error_frame("invalid protocol version")


def test_oversize_frame_closes_without_reading_the_payload(server):
    with RawClient(server.address) as c:
        # Only the header is sent: a server waiting for the 32 MiB payload would hang here.
        c.send(frame(Op.PRODUCE, length=p.MAX_PAYLOAD + 1))
        data = c.read_until_closed()
    assert data in (b"", p.error_frame("message too large"))


@pytest.mark.parametrize("op", [0x04, 0x31, 0x50, 0x51, 0x52, 0x66, 0x71, 0xA0, 0xA1, 0xFF, 0x99])
def test_unknown_opcode_keeps_connection_open(server, op):
    with RawClient(server.address) as c:
        c.send(frame(op, b"whatever"))
        assert error_text(c.recv_frame()) == f"unknown opcode: {op}"
        _still_open(c)


@pytest.mark.parametrize("op, feature", [(0x80, "audit")])
def test_later_features_say_not_supported_yet(server, op, feature):
    with RawClient(server.address) as c:
        c.send(frame(op, b"\x00"))
        assert error_text(c.recv_frame()) == f"{feature} is not supported yet by this flymq server"
        _still_open(c)


def test_truncated_payload_is_buffer_too_small(server):
    with RawClient(server.address) as c:
        c.send(frame(Op.PRODUCE, b"\x00\x01a"))
        assert error_text(c.recv_frame()) == "buffer too small"
        _still_open(c)


def test_inconsistent_payload_is_invalid_binary_format(server):
    with RawClient(server.address) as c:
        c.send(frame(Op.PRODUCE, b"\x00\xff" + bytes(20)))   # topic length runs past the end
        assert error_text(c.recv_frame()) == "invalid binary format"
        _still_open(c)


def test_error_frame_bytes_match_the_spec_example(server):
    with RawClient(server.address) as c:
        c.send(frame(Op.FETCH, p.FetchRequest("orders", 0, 0, 10).encode()))
        reply = c.sock.recv(1024)
    assert reply.hex(" ").upper() == (
        "AF 01 FF 01 00 00 00 1D 00 00 00 01 00 17 74 6F 70 69 63 20 6E 6F 74 20 66 6F 75 6E "
        "64 3A 20 6F 72 64 65 72 73")


def test_errors_carry_broker_text(server):
    with RawClient(server.address) as c:
        with pytest.raises(TopicNotFoundError):
            c.call(Op.FETCH, p.FetchRequest("missing", 0, 0, 10))
        _still_open(c)


def test_frame_split_byte_by_byte(server):
    data = frame(Op.PRODUCE, p.ProduceRequest("split", b"", b"v", -1).encode())
    with RawClient(server.address) as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
        assert p.RecordMetadataResponse.decode(c.recv_frame().payload).topic == "split"


def test_gzip_payload_is_accepted(server):
    payload = p.gzip_payload(p.ProduceRequest("gz", b"", b"zipped", -1).encode())
    with RawClient(server.address) as c:
        c.send(frame(Op.PRODUCE, payload, p.FLAG_BINARY | p.FLAG_GZIP))
        assert p.RecordMetadataResponse.decode(c.recv_frame().payload).value_size == 6
        c.send(frame(Op.PRODUCE, b"not gzip", p.FLAG_BINARY | p.FLAG_GZIP))
        assert error_text(c.recv_frame()).startswith("gzip:")
        c.send(frame(Op.LIST_TOPICS, b"", 0x05))             # lz4: not supported
        assert error_text(c.recv_frame()) == "unsupported compression codec"
        _still_open(c)


def test_flags_zero_accepted(server):
    with RawClient(server.address) as c:
        c.send(frame(Op.LIST_TOPICS, b"", 0x00))
        assert c.recv_frame().op == Op.LIST_TOPICS


def test_auth_disabled_accepts_and_whoami_reports_the_name(server):
    with RawClient(server.address) as c:
        assert c.call(Op.WHOAMI) == p.WhoAmIResponse(False, "", [], [])
        c.send(frame(Op.AUTH, p.AuthRequest("alice", "pw").encode()))
        reply = c.recv_frame()
        assert reply.op == Op.AUTH_RESPONSE
        assert p.AuthResponse.decode(reply.payload) == p.AuthResponse(True, "alice", [], "")
        assert c.call(Op.WHOAMI) == p.WhoAmIResponse(True, "alice", [], [])


def test_internal_error_is_reported_and_server_survives(server, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom")
    with RawClient(server.address) as c:
        monkeypatch.setattr(only_connection(server).session, "list_topics", boom)
        c.send(frame(Op.LIST_TOPICS))
        assert error_text(c.recv_frame()) == "internal error: RuntimeError: boom"
        monkeypatch.undo()
        _still_open(c)


def test_single_produce_frames_are_validated_like_any_other(server):
    """The one-frame PRODUCE fast path (payload decoded in place) keeps every check."""
    good = p.ProduceRequest.encode_fields("fast", b"k", b"value", -1)
    with RawClient(server.address) as c:
        c.call(Op.CREATE_TOPIC, p.CreateTopicRequest("fast", 2))
        for flags in (0x00, p.FLAG_BINARY, p.FLAG_BINARY | 0x10):   # no codec bits
            c.send(frame(Op.PRODUCE, good, flags))
            rm = p.RecordMetadataResponse.decode(c.recv_frame().payload)
            assert (rm.topic, rm.key_size, rm.value_size) == ("fast", 1, 5)
        for bad in (good[:13], good[:-1], good[:2] + b"\xff" + good[3:],
                    good[:6] + b"\xff\xff" + good[8:]):
            c.send(frame(Op.PRODUCE, bad))
            reply = c.recv_frame()
            assert reply.op == Op.ERROR
            assert error_text(reply) in (BUFFER_TOO_SMALL, INVALID_FORMAT, "invalid binary format: "
                                         "string field is not valid UTF-8")
        c.send(frame(Op.PRODUCE, p.ProduceRequest.encode_fields("fast", b"", b"v", 9)))
        assert "partition" in error_text(c.recv_frame())
        c.send(frame(Op.PRODUCE, good) + frame(Op.PRODUCE, good))    # two in one segment
        offsets = [p.RecordMetadataResponse.decode(c.recv_frame().payload).offset
                   for _ in range(2)]
        assert len(offsets) == 2
        _still_open(c)
