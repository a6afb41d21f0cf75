"""ERROR frames as the SDKs decode them, unknown and not-yet-served opcodes, AUTH/WHOAMI with
authentication disabled (spec §3.3, §5, §6.6, §6.8, §6.9)."""

from __future__ import annotations

import struct

import pytest

from flymq import errors as E
from flymq.errors import wire_text
from flymq import protocol as m

from .sdkwire import (ERROR_OP, NotLeaderError, ServerError, auth_req, b32, consume_req,
                      fetch_req, go_error_text, produce_req, py_auth,
                      py_record_metadata, py_whoami, pyflymq_error_text, pyflymq_raise, s8, s16,
                      subscribe_req)

PRODUCE, CONSUME, FETCH, SUBSCRIBE, AUTH, WHOAMI = 0x01, 0x02, 0x07, 0x05, 0x70, 0x72


def _assert_estruct(go, op: int, payload: bytes, text: str) -> None:
    """The raw reply is E-STRUCT (code 1, exact length, flags 0x01) and every SDK reads `text`."""
    f = go.roundtrip(op, payload)
    assert f.op == ERROR_OP and f.flags == 0x01
    data = text.encode()
    assert f.payload == struct.pack(">iH", 1, len(data)) + data
    assert pyflymq_error_text(f.payload) == (1, text)       # pyflymq and Java: same algorithm
    assert go_error_text(f.payload) == text


def test_error_frames_are_structured_and_survive_every_decoder(go):
    _assert_estruct(go, FETCH, fetch_req("orders", 0, 0, 10), "topic not found: orders")
    _assert_estruct(go, CONSUME, consume_req("orders", 0, 0), "topic not found")
    go.roundtrip(PRODUCE, produce_req("t", b"x"))
    _assert_estruct(go, CONSUME, consume_req("t", 0, 5), "EOF")              # < 6 bytes
    _assert_estruct(go, SUBSCRIBE, subscribe_req("t", "g", 0, "x"), "unknown subscribe mode: x")
    _assert_estruct(go, 0x04, s16("t"), "unknown opcode: 4")


def test_spec_example_error_frame(go):
    f = go.roundtrip(0x53, s16("orders"))
    assert struct.pack(">BBBBI", 0xAF, 1, f.op, f.flags, len(f.payload)) + f.payload == \
        bytes.fromhex("AF01FF010000001D0000000100177" "46f70696320"
                      "6e6f7420666f756e643a206f7264657273")


@pytest.mark.parametrize("op,payload", [
    (0x04, s16("t")),                  # METADATA: enum only
    (0x31, b""),                       # CANCEL_DELAYED
    (0x50, s16("10.0.0.2:9093")),      # CLUSTER_JOIN as pyflymq/Go send it
    (0x51, b""),                       # CLUSTER_LEAVE
    (0x52, b""),                       # CLUSTER_STATUS
    (0x66, b""),                       # SEEK_TO_TIMESTAMP
    (0x71, b""),                       # AUTH_RESPONSE is a reply only
    (0xFF, b""),                       # ERROR as a request
    (0xA0, b""), (0xA1, b""),          # SDK audit layout (MAY; unknown like the Go server)
    (0x99, b"abc"),
])
def test_unknown_opcodes_answer_decimal_text_and_keep_connection(py, op, payload):
    assert py.error(op, payload) == f"unknown opcode: {op}"
    assert py_record_metadata(py.request(PRODUCE, produce_req("alive", b"1"))).topic == "alive"


def test_pyflymq_exception_mapping_only_leadership_is_not_leader():
    """pyflymq raises NotLeaderError for any text containing "not leader" (any case)."""
    with pytest.raises(NotLeaderError) as info:
        pyflymq_raise("not leader: leader_addr=h:1 current leader is node-2")
    assert info.value.leader_id == "node-2"
    samples = [
        E.TopicNotFoundError("orders"), E.TopicNotFoundError("x", wire="topic not found"),
        E.PartitionNotFoundError("t", 3, style="out of range"), E.PartitionNotFoundError("t", 3),
        E.OffsetOutOfRangeError("t", 4), E.ConsumerGroupNotFoundError("t", "g"),
        E.InvalidTopicNameError("a//b"), E.InvalidRequestError("buffer too small"),
        E.InvalidRequestError("invalid partition count: -1"),
        E.UnsupportedOperationError("unknown opcode: 80"), E.MessageTooLargeError(10, 5),
        E.AuthorizationError("unauthorized"), E.SchemaNotFoundError("s"),
        E.SchemaValidationError("s", ["missing required field: id"]),
        E.StorageError("disk full"), E.BrokerClosedError(), RuntimeError("boom"),
        E.TopicAlreadyExistsError("t"),
    ]
    for exc in samples:
        text = wire_text(exc)
        assert "not leader" not in text.lower(), text
        with pytest.raises(ServerError):
            pyflymq_raise(text)
    # "not partition leader" (Go cluster wording) is not a leadership match for pyflymq either
    with pytest.raises(ServerError):
        pyflymq_raise("not partition leader: partition=1 leader=n2")


# --- AUTH / WHOAMI with authentication disabled ------------------------------------------------

def test_auth_disabled_accepts_and_binds_name(py, connect):
    anon = py.request(WHOAMI)
    assert py.last_op == WHOAMI
    assert anon == b"\x00" + b"\x00\x00" + b"\x00" * 4 + b"\x00" * 4
    assert py_whoami(anon).authenticated is False

    body = py.request(AUTH, auth_req("alice", "secret"))
    assert py.last_op == 0x71                                  # AUTH_RESPONSE
    assert body == b"\x01" + s16("alice") + b"\x00\x00\x00\x00" + b"\x00\x00"
    assert py_auth(body) == py_auth(body).__class__(True, "alice", [], "")

    me = py_whoami(py.request(WHOAMI))
    assert (me.authenticated, me.username, me.roles, me.permissions) == (True, "alice", [], [])
    # binding is per connection
    assert py_whoami(connect("py").request(WHOAMI)).authenticated is False
    # a second AUTH replaces the name
    py.request(AUTH, auth_req("bob", ""))
    assert py_whoami(py.request(WHOAMI)).username == "bob"


def test_malformed_auth_and_cluster_metadata_texts(py):
    """§5.6: these two opcodes prefix their decode errors upstream."""
    assert py.error(AUTH, b"\x00") == "invalid auth request: buffer too small"
    assert py.error(AUTH, s16("alice") + b"\x00\x09pw") == \
        "invalid auth request: invalid binary format"
    assert py.error(0x53, b"\x00\x09abc") == "invalid request: invalid binary format"
    # other opcodes keep the bare texts
    assert py.error(FETCH, b"\x00\x30" + b"\x00" * 16) == "invalid binary format"


@pytest.mark.parametrize("op", range(0x73, 0x7D))
def test_user_ops_with_auth_disabled(go, op):
    f = go.roundtrip(op, s16("u") + s16("p") + s16("") + b"\x00\x00\x00\x00")
    assert f.op == ERROR_OP and go_error_text(f.payload) == "authentication is not enabled"


def test_role_list_with_auth_disabled(go):
    f = go.roundtrip(0x7D)
    assert f.op == 0x7D
    count = struct.unpack(">I", f.payload[:4])[0]
    assert count == 4
    roles = m.RoleListResponse.decode(f.payload).roles
    assert [(r.name, r.permissions) for r in roles] == [
        ("admin", ["read", "write", "admin"]), ("producer", ["write"]),
        ("consumer", ["read"]), ("guest", [])]
    assert roles[0].description == "Full access to all operations"
