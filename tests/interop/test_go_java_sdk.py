"""What the Go SDK (and, for gzip, the Java SDK) send and require: reply opcodes for AUTH/WHOAMI,
gzip-compressed PRODUCE (flags 0x03), empty-topic group admin, lock-step traffic."""

from __future__ import annotations

import gzip
import struct

from .sdkwire import (ERROR_OP, FLAG_BINARY, auth_req, commit_req, consume_req, create_topic_req,
                      fetch_req, go_auth, go_describe_group, go_error_text, go_record_metadata,
                      group_partition_req, group_req, produce_req, py_consume, py_fetch,
                      py_list_topics, reset_offset_req, s16, subscribe_req)

PRODUCE, CONSUME, CREATE, SUBSCRIBE, COMMIT, FETCH, LIST = 0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x08
AUTH, AUTH_RESPONSE, WHOAMI = 0x70, 0x71, 0x72


def test_go_auth_reply_opcode_and_layout(go):
    f = go.roundtrip(AUTH, auth_req("svc", "pw"))
    assert f.op == AUTH_RESPONSE                         # the Go SDK rejects anything else
    reply = go_auth(f.payload)
    assert (reply.success, reply.username, reply.roles, reply.error) == (True, "svc", [], "")


def test_go_whoami_reply_opcode_and_layout(go):
    f = go.roundtrip(WHOAMI)
    assert f.op == WHOAMI
    anon = go_auth(f.payload)                            # Go decodes WHOAMI as an AUTH reply
    assert (anon.success, anon.username, anon.roles) == (False, "", [])
    go.roundtrip(AUTH, auth_req("svc", "pw"))
    f = go.roundtrip(WHOAMI)
    assert f.op == WHOAMI
    me = go_auth(f.payload)
    assert (me.success, me.username, me.roles) == (True, "svc", [])


def test_gzip_produce_as_go_and_java_send_it(go, py):
    f = go.produce_gzip(produce_req("z", b"compressed value " * 20, key=b"k"))
    assert f.op == PRODUCE and f.flags == FLAG_BINARY
    rm = go_record_metadata(f.payload)
    assert (rm.topic, rm.partition, rm.offset, rm.key_size, rm.value_size) == ("z", 0, 0, 1, 340)
    f = go.produce_gzip(produce_req("z", b"second"))
    assert go_record_metadata(f.payload).offset == 1
    # stored decompressed: an uncompressed reader sees the original bytes
    assert py_consume(py.request(CONSUME, consume_req("z", 0, 0))) == (b"k", b"compressed value " * 20)
    msgs, nxt = py_fetch(py.request(FETCH, fetch_req("z", 0, 0, 10)))
    assert [m[2] for m in msgs] == [b"compressed value " * 20, b"second"] and nxt == 2


def test_gzip_on_other_opcodes_and_bad_streams(go):
    # the codec bits apply to any opcode (Go server decompresses before dispatch)
    f = go.roundtrip(CREATE, gzip.compress(create_topic_req("gz", 3)), 0x03)
    assert (f.op, f.payload) == (CREATE, b"\x01")
    f = go.roundtrip(LIST, gzip.compress(b""), 0x03)
    assert "gz" in py_list_topics(f.payload)
    f = go.roundtrip(PRODUCE, b"definitely not gzip", 0x03)
    assert f.op == ERROR_OP and go_error_text(f.payload) == "gzip: invalid header"
    f = go.roundtrip(PRODUCE, produce_req("gz", b"lz4?"), FLAG_BINARY | 0x04)
    assert f.op == ERROR_OP and go_error_text(f.payload) == "unsupported compression codec"
    # connection still in step
    f = go.roundtrip(PRODUCE, produce_req("gz", b"plain", partition=2))
    assert go_record_metadata(f.payload).partition == 2


def test_go_group_admin_sends_empty_topic(go):
    """DescribeConsumerGroup/DeleteConsumerGroup(groupID) put an empty topic in the request."""
    f = go.roundtrip(0x63, group_req("", "gg"))
    assert f.op == ERROR_OP and go_error_text(f.payload) == "consumer group not found: :gg"
    assert go.roundtrip(COMMIT, commit_req("", "gg", 0, 5)).payload == b"\x01"
    f = go.roundtrip(0x63, group_req("", "gg"))
    assert f.op == 0x63
    assert go_describe_group(f.payload) == {
        "topic": "", "group_id": "gg", "members": 0, "offsets": [{"partition": 0, "offset": 5}]}
    assert go.roundtrip(0x65, group_req("", "gg")).payload == b"\x01"
    assert go.roundtrip(0x63, group_req("", "gg")).op == ERROR_OP


def test_go_lockstep_session(go):
    """A Go-SDK-shaped session: every reply read straight off the socket, in order."""
    assert go.roundtrip(CREATE, create_topic_req("s", 2)).payload == b"\x01"
    for i in range(200):
        f = go.roundtrip(PRODUCE, produce_req("s", b"v%d" % i, partition=i % 2))
        rm = go_record_metadata(f.payload)
        assert (rm.partition, rm.offset) == (i % 2, i // 2)
    start = struct.unpack(">Q", go.roundtrip(SUBSCRIBE, subscribe_req("s", "go", 1, "earliest"))
                          .payload)[0]
    msgs, nxt = py_fetch(go.roundtrip(FETCH, fetch_req("s", 1, start, 1000, None)).payload)
    assert len(msgs) == 100 and nxt == 100
    assert go.roundtrip(COMMIT, commit_req("s", "go", 1, nxt)).payload == b"\x01"
    lag = struct.unpack(">QQQQ", go.roundtrip(0x64, group_partition_req("s", "go", 1)).payload)
    assert lag == (100, 100, 100, 0)
    assert go.roundtrip(0x61, reset_offset_req("s", "go", 1, "offset", 40)).payload == b"\x01"
    assert struct.unpack(">Q", go.roundtrip(0x60, group_partition_req("s", "go", 1))
                         .payload)[0] == 40
    f = go.roundtrip(0x53, s16("s"))
    assert f.op == 0x53
