"""pyflymq's everyday paths, byte for byte: PRODUCE, CONSUME, FETCH and the topic operations.

Requests are what pyflymq's encoders put on the wire; replies go through pyflymq's decoders
(``sdkwire.py``), so any reply pyflymq would reject makes these tests fail.
"""

from __future__ import annotations

import struct

import pytest

from .sdkwire import (create_topic_req, consume_req, fetch_req, produce_req, py_bool, py_consume,
                      py_fetch, py_list_topics, py_record_metadata, topic_req)

PRODUCE, CONSUME, CREATE, FETCH, LIST, DELETE = 0x01, 0x02, 0x03, 0x07, 0x08, 0x09


def test_spec_example_produce_frame_and_record_metadata(py):
    """§3.5: the exact example frame; RecordMetadata is 30 + len(topic) bytes."""
    req = bytes.fromhex("0004 74657374 00000000 00000005 68656c6c6f ffffffff".replace(" ", ""))
    assert req == produce_req("test", b"hello")
    body = py.request(PRODUCE, req)
    assert py.last_op == PRODUCE and py.last_flags == 0x01
    assert len(body) == 30 + 4
    rm = py_record_metadata(body)
    assert (rm.topic, rm.partition, rm.offset, rm.key_size, rm.value_size) == ("test", 0, 0, -1, 5)
    assert rm.timestamp >= 0


def test_produce_plain_keyed_and_explicit_partition(py):
    assert py_bool(py.request(CREATE, create_topic_req("orders", 4)))
    # keyed (produce_with_key): FNV-1a, "user-123" -> 3 of 4 (spec §7.2 vector)
    rm = py_record_metadata(py.request(PRODUCE, produce_req("orders", b"v", key=b"user-123")))
    assert (rm.partition, rm.offset, rm.key_size, rm.value_size) == (3, 0, 8, 1)
    rm = py_record_metadata(py.request(PRODUCE, produce_req("orders", b"v2", key=b"user-123")))
    assert (rm.partition, rm.offset) == (3, 1)
    # explicit partition wins over the key (produce_to_partition)
    rm = py_record_metadata(py.request(PRODUCE, produce_req("orders", b"p", key=b"user-123",
                                                            partition=1)))
    assert (rm.partition, rm.offset, rm.key_size) == (1, 0, 8)
    # unkeyed: round robin starting at partition 0
    parts = [py_record_metadata(py.request(PRODUCE, produce_req("orders", b"x"))).partition
             for _ in range(4)]
    assert sorted(parts) == [0, 1, 2, 3] and parts[0] == 0
    # explicit partition out of range
    assert py.error(PRODUCE, produce_req("orders", b"x", partition=4)) == "partition 4 out of range"


def test_produce_auto_creates_topic_with_one_partition(py):
    rm = py_record_metadata(py.request(PRODUCE, produce_req("auto", b"a", key=b"k")))
    assert (rm.partition, rm.offset, rm.key_size) == (0, 0, 1)
    assert "auto" in py_list_topics(py.request(LIST))


def test_consume_key_value_and_errors(py):
    py.request(PRODUCE, produce_req("c", b"no-key"))
    py.request(PRODUCE, produce_req("c", b"with-key", key=b"k1"))
    assert py_consume(py.request(CONSUME, consume_req("c", 0, 0))) == (b"", b"no-key")
    assert py_consume(py.request(CONSUME, consume_req("c", 0, 1))) == (b"k1", b"with-key")
    assert py.error(CONSUME, consume_req("c", 0, 2)) == "EOF"
    assert py.error(CONSUME, consume_req("c", 1, 0)) == "partition 1 out of range"
    assert py.error(CONSUME, consume_req("c", -1, 0)) == "partition -1 out of range"
    assert py.error(CONSUME, consume_req("missing", 0, 0)) == "topic not found"


@pytest.mark.parametrize("with_filter", [True, False], ids=["filter-field", "no-filter-field"])
def test_fetch_layout_and_next_offset(py, with_filter):
    for i in range(5):
        py.request(PRODUCE, produce_req("f", f"m{i}".encode(), key=b"k" if i == 1 else b""))
    flt = "" if with_filter else None
    msgs, nxt = py_fetch(py.request(FETCH, fetch_req("f", 0, 0, 3, flt)))
    assert msgs == [(0, b"", b"m0"), (1, b"k", b"m1"), (2, b"", b"m2")] and nxt == 3
    msgs, nxt = py_fetch(py.request(FETCH, fetch_req("f", 0, 3, 0, flt)))   # <= 0 -> 10
    assert [m[0] for m in msgs] == [3, 4] and nxt == 5
    body = py.request(FETCH, fetch_req("f", 0, 5, 10, flt))
    assert body == struct.pack(">IQ", 0, 5)                              # empty, at the end
    body = py.request(FETCH, fetch_req("f", 0, 99, 10, flt))
    assert py_fetch(body) == ([], 99)


def test_fetch_with_filter(py):
    for v in (b'{"type":"a"}', b"plain ORDER text", b'{"other":1}', b"nothing"):
        py.request(PRODUCE, produce_req("ff", v))
    msgs, nxt = py_fetch(py.request(FETCH, fetch_req("ff", 0, 0, 10, "order")))
    assert [m[0] for m in msgs] == [1] and nxt == 4                       # substring, any case
    msgs, _ = py_fetch(py.request(FETCH, fetch_req("ff", 0, 0, 10, "$.type")))
    assert [m[0] for m in msgs] == [0]                                     # JSON path
    msgs, _ = py_fetch(py.request(FETCH, fetch_req("ff", 0, 0, 10, "^no.hing$")))
    assert [m[0] for m in msgs] == [3]                                     # regex
    # a filter length running past the payload = no filter (Go server behaviour, §6.1.7)
    bad = fetch_req("ff", 0, 0, 10, None) + struct.pack(">H", 50) + b"x"
    msgs, _ = py_fetch(py.request(FETCH, bad))
    assert len(msgs) == 4


def test_fetch_errors(py):
    py.request(CREATE, create_topic_req("fe", 2))
    assert py.error(FETCH, fetch_req("nope", 0, 0, 10)) == "topic not found: nope"
    assert py.error(FETCH, fetch_req("fe", 2, 0, 10)) == "partition 2 not found"
    assert py.error(FETCH, fetch_req("fe", -1, 0, 10)) == "partition -1 not found"


def test_create_list_delete_topics(py):
    assert py.request(CREATE, create_topic_req("b-topic", 3)) == b"\x01"
    assert py.request(CREATE, create_topic_req("b-topic", 5)) == b"\x01"     # idempotent
    assert py.request(CREATE, create_topic_req("a-topic", 0)) == b"\x01"     # 0 -> 1 partition
    assert py.request(CREATE, create_topic_req("__hidden", 1)) == b"\x01"
    topics = py_list_topics(py.request(LIST))
    assert topics == sorted(topics) and {"a-topic", "b-topic"} <= set(topics)
    assert "__hidden" not in topics
    # LIST_TOPICS ignores any payload
    assert py_list_topics(py.request(LIST, b"junk")) == topics
    assert py.error(CREATE, create_topic_req("neg", -1)) == "invalid partition count: -1"
    assert py.request(DELETE, topic_req("b-topic")) == b"\x01"
    assert py.request(DELETE, topic_req("b-topic")) == b"\x01"               # missing: still ok
    assert "b-topic" not in py_list_topics(py.request(LIST))
    assert py.error(CONSUME, consume_req("b-topic", 0, 0)) == "topic not found"


def test_recreated_topic_restarts_offsets(py):
    py.request(PRODUCE, produce_req("re", b"a"))
    py.request(PRODUCE, produce_req("re", b"b"))
    py.request(DELETE, topic_req("re"))
    assert py_record_metadata(py.request(PRODUCE, produce_req("re", b"c"))).offset == 0


def test_short_and_malformed_payloads_keep_connection(py):
    assert py.error(PRODUCE, b"\x00\x01a") == "buffer too small"
    assert py.error(PRODUCE, struct.pack(">H", 40) + b"\x00" * 12) == "invalid binary format"
    assert py.error(CONSUME, b"\x00") == "buffer too small"
    assert py.error(FETCH, b"\x00\x00" + b"\x00" * 10) == "buffer too small"
    # still usable afterwards
    assert py_record_metadata(py.request(PRODUCE, produce_req("ok", b"1"))).offset == 0


def test_many_sequential_requests_on_one_connection(py):
    """Like every SDK: one request in flight, hundreds of them on the same socket."""
    for i in range(300):
        rm = py_record_metadata(py.request(PRODUCE, produce_req("seq", b"%d" % i)))
        assert rm.offset == i
        if i % 50 == 0:
            assert py_consume(py.request(CONSUME, consume_req("seq", 0, i)))[1] == b"%d" % i
    offset, seen = 0, []
    while True:
        msgs, offset = py_fetch(py.request(FETCH, fetch_req("seq", 0, offset, 100)))
        if not msgs:
            break
        seen += [m[2] for m in msgs]
    assert seen == [b"%d" % i for i in range(300)]


def test_fetch_scans_at_most_1000_records(py):
    for i in range(1100):
        py.request(PRODUCE, produce_req("big", b"x"))
    msgs, nxt = py_fetch(py.request(FETCH, fetch_req("big", 0, 0, 5000)))
    assert len(msgs) == 1000 and nxt == 1000


def test_error_text_over_64k_is_cut_on_a_character_boundary(py):
    """pyflymq decodes the message strictly: a cut inside a UTF-8 sequence would raise."""
    name = "a" + "\u00e9" * 32760                     # "topic not found: " + name > 65535 bytes
    text = py.error(FETCH, fetch_req(name, 0, 0, 10))
    assert text.startswith("topic not found: a\u00e9") and len(text.encode()) <= 0xFFFF
