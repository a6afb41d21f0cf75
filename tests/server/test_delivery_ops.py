"""The delayed, TTL and DLQ opcodes on the wire in upstream's layouts (wire spec §6.3, §6.4),
as pyflymq sends them: raw frames, no flymq client."""

from __future__ import annotations

import json

import pytest

from flymq import protocol as p
from flymq.errors import InvalidRequestError
from flymq.protocol import Op
from tests.server.srvutil import RawClient, error_text, frame


def test_ttl_produce_and_standard_fetch_skips_expired(server, broker, flymq_clock):
    with RawClient(server.address) as c:
        rm = c.call(Op.PRODUCE_WITH_TTL, p.ProduceWithTTLRequest("t", b"brief", 1000))
        c.call(Op.PRODUCE, p.ProduceRequest("t", b"", b"stays", -1))
        assert (rm.topic, rm.partition, rm.offset, rm.key_size) == ("t", 0, 0, -1)
        assert [r.value for r in c.call(Op.FETCH, p.FetchRequest("t", 0, 0, 10)).records] == \
            [b"brief", b"stays"]
        flymq_clock.advance(1000)
        reply = c.call(Op.FETCH, p.FetchRequest("t", 0, 0, 10))
        assert [r.value for r in reply.records] == [b"stays"] and reply.next_offset == 2
        c.send(frame(Op.CONSUME, p.ConsumeRequest("t", 0, 0).encode()))
        assert error_text(c.recv_frame()) == "EOF"


def test_delayed_produce_upstream_layout_and_errors(server, broker, flymq_clock):
    with RawClient(server.address) as c:
        rm = c.call(Op.PRODUCE_DELAYED, p.ProduceDelayedRequest("d", b"later", 5000))
        assert (rm.partition, rm.offset, rm.value_size) == (0, 0, 5)
        c.send(frame(Op.PRODUCE_DELAYED, p.ProduceDelayedRequest(
            "d", b"x", 366 * 24 * 3600 * 1000).encode()))
        assert error_text(c.recv_frame()) == \
            "delay 8784h0m0s exceeds maximum allowed delay 8760h0m0s"
        with pytest.raises(InvalidRequestError, match="invalid delay_ms: 0"):
            c.call(Op.PRODUCE_DELAYED, p.ProduceDelayedRequest("d", b"x", 0))
        c.send(frame(Op.CANCEL_DELAYED, b"\x00\x01x"))
        assert error_text(c.recv_frame()) == "unknown opcode: 49"      # §6.4.2
        flymq_clock.advance(5000)
        assert [r.value for r in c.call(Op.FETCH, p.FetchRequest("d", 0, 0, 10)).records] == \
            [b"later"]


def test_dlq_opcodes_upstream_layouts(server, broker):
    broker.produce("q", b"bad", key=b"k")
    entry_id = broker.dead_letter("q", 0, 0, reason="processing_error", error="boom",
                                  retry_count=2)
    stored = json.loads(broker.fetch("q.dlq", 0, 0, 1).messages[0].data)
    assert {"id", "original_topic", "original_offset", "payload", "reason", "error_message",
            "retry_count", "first_failed_at", "last_failed_at"} <= set(stored)
    with RawClient(server.address) as c:
        [e] = c.call(Op.FETCH_DLQ, p.FetchDLQRequest("q", 10)).messages
        assert (e.id, e.data, e.error, e.retries) == (entry_id, b"bad", "boom", 2)
        missing = c.call(Op.REPLAY_DLQ, p.ReplayDLQRequest("q", "nope"))
        assert (missing.success, missing.message) == (False, "message not found")
        assert c.call(Op.REPLAY_DLQ, p.ReplayDLQRequest("q", entry_id)).success
        assert c.call(Op.FETCH_DLQ, p.FetchDLQRequest("q", 10)).messages == []
        c.send(frame(Op.REPLAY_DLQ, p.ReplayDLQRequest("q", offset=0).encode()))
        reinject = p.ReInjectDLQResponse.decode(c.recv_frame().payload)   # form B (§6.3.2)
        assert (reinject.success, reinject.message) == (False, "message not found at offset 0")
        assert c.call(Op.PURGE_DLQ, p.TopicRequest("q")).success
        c.send(frame(Op.FETCH_DLQ, p.FetchDLQRequest("nothing", 10).encode()))
        assert error_text(c.recv_frame()) == "topic not found: nothing"
    assert [m.data for m in broker.fetch("q", 0, 0, 10).messages] == [b"bad", b"bad"]
    assert [m.key for m in broker.fetch("q", 0, 0, 10).messages] == [b"k", b"k"]
