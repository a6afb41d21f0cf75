"""Every example frame of wire-protocol.md, byte for byte, in both directions."""

from __future__ import annotations

import pytest

from flymq import protocol as m
from flymq.errors import InvalidRequestError
from flymq.protocol import Op, encode_frame, error_frame


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace("|", " "))


# §3.5 PRODUCE request
PRODUCE_REQ = h("AF 01 01 01 00 00 00 17 | 00 04 74 65 73 74 | 00 00 00 00 |"
                "00 00 00 05 68 65 6C 6C 6F | FF FF FF FF")
# §3.5 RecordMetadata reply
PRODUCE_REPLY = h("AF 01 01 01 00 00 00 22 | 00 04 74 65 73 74 | 00 00 00 00 |"
                  "00 00 00 00 00 00 00 2A | 00 00 01 8D 01 47 24 00 | FF FF FF FF | 00 00 00 05")
# §3.5 structured error
ERROR_REPLY = h("AF 01 FF 01 00 00 00 1D | 00 00 00 01 | 00 17 |"
                "74 6F 70 69 63 20 6E 6F 74 20 66 6F 75 6E 64 3A 20 6F 72 64 65 72 73")
# §6.1.5 SUBSCRIBE
SUBSCRIBE_REQ = h("AF 01 05 01 00 00 00 17 | 00 04 74 65 73 74 | 00 02 67 31 | 00 00 00 00 |"
                  "08 65 61 72 6C 69 65 73 74")
# §6.1.7 FETCH reply
FETCH_REPLY = h("AF 01 07 01 00 00 00 31 | 00 00 00 02 | 00 00 00 00 00 00 00 02 |"
                "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02 6D 30 |"
                "00 00 00 00 00 00 00 01 00 00 00 01 6B 00 00 00 02 6D 31")
# §6.8.1 AUTH_RESPONSE
AUTH_REPLY = h("AF 01 71 01 00 00 00 14 | 01 | 00 05 61 64 6D 69 6E | 00 00 00 01 |"
               "05 61 64 6D 69 6E | 00 00")
# §6.8.2 WHOAMI (pyflymq layout)
WHOAMI_REPLY = h("AF 01 72 01 00 00 00 2B | 01 | 00 05 61 64 6D 69 6E |"
                 "00 00 00 01 00 05 61 64 6D 69 6E |"
                 "00 00 00 03 00 04 72 65 61 64 00 05 77 72 69 74 65 00 05 61 64 6D 69 6E")

GOLDEN = [
    (PRODUCE_REQ, m.ProduceRequest("test", b"", b"hello", -1), m.REQUESTS),
    (PRODUCE_REPLY, m.RecordMetadataResponse("test", 0, 42, 1_705_123_456_000, -1, 5),
     m.RESPONSES),
    (SUBSCRIBE_REQ, m.SubscribeRequest("test", "g1", 0, "earliest"), m.REQUESTS),
    (FETCH_REPLY, m.FetchResponse([m.FetchRecord(0, b"", b"m0"), m.FetchRecord(1, b"k", b"m1")],
                                  2), m.RESPONSES),
    (WHOAMI_REPLY, m.WhoAmIResponse(True, "admin", ["admin"], ["read", "write", "admin"]),
     m.RESPONSES),
]


@pytest.mark.parametrize("frame,msg,table", GOLDEN, ids=lambda v: type(v).__name__)
def test_golden_encode_and_decode(frame: bytes, msg: m.Message, table: dict) -> None:
    op = frame[2]
    assert encode_frame(op, msg.encode()) == frame
    assert table[Op(op)].decode(frame[8:]) == msg


def test_auth_reply_uses_opcode_0x71() -> None:
    msg = m.AuthResponse(True, "admin", ["admin"], "")
    assert encode_frame(m.reply_op(Op.AUTH), msg.encode()) == AUTH_REPLY
    assert m.RESPONSES[Op.AUTH].decode(AUTH_REPLY[8:]) == msg


def test_error_frame_is_e_struct() -> None:
    assert error_frame("topic not found: orders") == ERROR_REPLY
    assert m.ErrorResponse.decode(ERROR_REPLY[8:]).message == "topic not found: orders"


def test_record_metadata_model() -> None:
    rm = m.RecordMetadataResponse.decode_model(PRODUCE_REPLY[8:])
    assert rm == 42 and rm.topic == "test" and rm.timestamp == 1_705_123_456_000
    assert rm.key_size == -1 and rm.value_size == 5
    assert m.RecordMetadataResponse.from_model(rm).encode() == PRODUCE_REPLY[8:]


@pytest.mark.parametrize("text", ["EOF", "topic not found: orders", "x" * 5, "",
                                  "not leader: leader_addr=10.0.0.1:9092"])
def test_error_e_text_kept_whole(text: str) -> None:
    """E-TEXT (raw message) is recognised by the exact-length rule: nothing is cut off."""
    assert m.ErrorResponse.decode(text.encode()).message == text


def test_error_e_struct_exact_length_only() -> None:
    payload = m.ErrorResponse("boom").encode()
    assert m.ErrorResponse.decode(payload) == m.ErrorResponse("boom", 1)
    # one trailing byte too many: no longer E-STRUCT, so read as raw text
    assert m.ErrorResponse.decode(payload + b"!").message == (payload + b"!").decode()


def test_whoami_accepts_go_auth_layout() -> None:
    """A real Go server answers WHOAMI in the AUTH layout (§6.8.2, §9)."""
    r = m.WhoAmIResponse.decode(AUTH_REPLY[8:])
    assert r == m.WhoAmIResponse(True, "admin", ["admin"], [])
    anon = m.AuthResponse(False, "", [], "").encode()
    assert m.WhoAmIResponse.decode(anon) == m.WhoAmIResponse(False, "", [], [])


def test_get_schema_both_layouts() -> None:
    mine = m.GetSchemaResponse("orders-v2", "json", 2).encode()
    assert mine == h("00 00 00 01 | 00 09") + b"orders-v2" + h("04") + b"json" + h("00 00 00 02")
    assert m.GetSchemaResponse.decode(mine) == m.GetSchemaResponse("orders-v2", "json", 2)
    go = (h("00 09") + b"orders-v2" + h("00 06") + b"orders" + h("00 00 00 02 04") + b"json"
          + h("00 00 00 02") + b"{}" + h("08") + b"backward")
    assert m.GetSchemaResponse.decode(go) == m.GetSchemaResponse("orders", "json", 2, b"{}",
                                                                 "backward")
    assert m.GetSchemaResponse.decode(h("00 00 00 00")).version == 0


def test_produce_with_schema_both_field_orders() -> None:
    go_order = m.ProduceWithSchemaRequest("t", "s", b'{"a":1}').encode()
    assert go_order == h("00 01 74 00 01 73 00 00 00 07") + b'{"a":1}'
    py_order = h("00 01 74 00 00 00 07") + b'{"a":1}' + h("00 01 73")
    for payload in (go_order, py_order):
        assert m.ProduceWithSchemaRequest.decode(payload) == \
            m.ProduceWithSchemaRequest("t", "s", b'{"a":1}')
    with pytest.raises(InvalidRequestError):
        m.ProduceWithSchemaRequest.decode(go_order + b"x")


def test_replay_dlq_forms() -> None:
    a = m.ReplayDLQRequest("t", "abc")
    assert a.encode() == h("00 01 74 00 03 61 62 63")
    b = m.ReplayDLQRequest("t", offset=5)
    assert b.encode() == h("00 01 74 00 00 00 00 00 00 00 05")
    assert m.ReplayDLQRequest.decode(b.encode()).is_reinject
    six = m.ReplayDLQRequest("t", "abcdef")          # 8 bytes after the topic, but id length 6
    assert m.ReplayDLQRequest.decode(six.encode()) == six
    assert m.ReInjectDLQResponse(True, "OK").encode() == h("01 00 00 00 02 4F 4B")


def test_reset_offset_sends_offset_only_for_mode_offset() -> None:
    assert m.ResetOffsetRequest("t", "g", 0, "earliest").encode() == \
        h("00 01 74 00 01 67 00 00 00 00 08") + b"earliest"
    with_offset = m.ResetOffsetRequest("t", "g", 0, "offset", 7).encode()
    assert with_offset.endswith(h("06") + b"offset" + h("00 00 00 00 00 00 00 07"))
    # Java appends 8 bytes for every mode; they are read and ignored by the broker
    assert m.ResetOffsetRequest.decode(with_offset).offset == 7


def test_fetch_filter_optional_and_lenient() -> None:
    base = h("00 01 74 | 00 00 00 00 | 00 00 00 00 00 00 00 03 | 00 00 00 0A")
    assert m.FetchRequest.decode(base) == m.FetchRequest("t", 0, 3, 10, "")
    assert m.FetchRequest.decode(base + h("00 02") + b"ab").filter == "ab"
    assert m.FetchRequest.decode(base + h("00 09") + b"ab").filter == ""   # overrun -> none


def test_cluster_metadata_request_empty_payload_means_all() -> None:
    assert m.ClusterMetadataRequest.decode(b"") == m.ClusterMetadataRequest("")
    assert m.ListSchemasRequest.decode(b"\x00") == m.ListSchemasRequest("")


def test_minimum_sizes_match_spec() -> None:
    expected = {Op.PRODUCE: 14, Op.CONSUME: 14, Op.CREATE_TOPIC: 6, Op.SUBSCRIBE: 9,
                Op.COMMIT: 16, Op.FETCH: 18, Op.DELETE_TOPIC: 2, Op.GET_OFFSET: 8,
                Op.RESET_OFFSET: 9, Op.DESCRIBE_GROUP: 4, Op.GET_LAG: 8, Op.DELETE_GROUP: 4,
                Op.REGISTER_SCHEMA: 7, Op.GET_SCHEMA: 6, Op.VALIDATE_SCHEMA: 6,
                Op.PRODUCE_WITH_SCHEMA: 8, Op.DELETE_SCHEMA: 6, Op.FETCH_DLQ: 6,
                Op.REPLAY_DLQ: 4, Op.PURGE_DLQ: 2, Op.PRODUCE_DELAYED: 14,
                Op.PRODUCE_WITH_TTL: 14, Op.PRODUCE_TX: 8, Op.AUTH: 4, Op.USER_CREATE: 10,
                Op.ACL_SET: 11, Op.AUDIT_QUERY: 28, Op.AUDIT_EXPORT: 6}
    assert {op: m.REQUESTS[op].MIN_SIZE for op in expected} == expected


def test_unserved_opcodes_are_not_registered() -> None:
    """The server answers these with `unknown opcode: <n>` (§1.2)."""
    for op in (Op.METADATA, Op.CANCEL_DELAYED, Op.CLUSTER_JOIN, Op.CLUSTER_LEAVE,
               Op.CLUSTER_STATUS, Op.SEEK_TO_TIMESTAMP, Op.AUTH_RESPONSE, Op.ERROR):
        assert op not in m.REQUESTS
