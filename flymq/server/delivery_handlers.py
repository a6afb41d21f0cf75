"""The opcodes of delayed delivery, TTL and dead-letter queues: upstream's ``0x20``-``0x22``,
``0x30``, ``0x35`` (wire spec §6.3, §6.4) and flymq's ``0xD5``-``0xD9``
(docs/protocol-extensions.md). Each maps one request to one call of the connection's session;
the behaviour is in :mod:`flymq.broker.delivery_ops`. Registered on import by
:mod:`flymq.server.handlers`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flymq import protocol as m
from flymq.errors import DeadLetterNotFoundError
from flymq.protocol import Op
from flymq.server.handlers import op

if TYPE_CHECKING:
    from flymq.server.connection import Connection
    from flymq.server.flymq_v1 import FlyMQv1


def _metadata(rm: Any) -> m.RecordMetadataResponse:
    return m.RecordMetadataResponse(rm.topic, rm.partition, rm.offset, rm.timestamp,
                                    rm.key_size, rm.value_size)


# --- TTL ------------------------------------------------------------------------------------------

@op(Op.PRODUCE_WITH_TTL, m.ProduceWithTTLRequest, disk=True, feature="ttl")
def _produce_with_ttl(d: "FlyMQv1", conn: "Connection", req: m.ProduceWithTTLRequest) -> Any:
    return _metadata(conn.session.produce_with_ttl(req.topic, req.data, req.ttl_ms))


# --- delayed delivery -----------------------------------------------------------------------------

@op(Op.PRODUCE_DELAYED, m.ProduceDelayedRequest, disk=True, feature="delayed")
def _produce_delayed(d: "FlyMQv1", conn: "Connection", req: m.ProduceDelayedRequest) -> Any:
    return _metadata(conn.session.produce_delayed(req.topic, req.data, req.delay_ms))


@op(Op.PRODUCE_DELAYED_EX, m.ProduceDelayedExRequest, disk=True, feature="delayed")
def _produce_delayed_ex(d: "FlyMQv1", conn: "Connection", req: m.ProduceDelayedExRequest) -> Any:
    rm = conn.session.produce_delayed(req.topic, req.value, req.delay_ms, key=req.key or None,
                                      partition=req.partition, headers=req.headers or None)
    return m.DelayedMetadataResponse(rm.topic, rm.partition, rm.offset, rm.timestamp,
                                     rm.key_size, rm.value_size, rm.delay_id, rm.due_at)


@op(Op.CANCEL_DELAYED_EX, m.CancelDelayedRequest, disk=True, feature="delayed")
def _cancel_delayed(d: "FlyMQv1", conn: "Connection", req: m.CancelDelayedRequest) -> Any:
    conn.session.cancel_delayed(req.delay_id)
    return m.AckResponse()


@op(Op.LIST_DELAYED, m.ListDelayedRequest, feature="delayed")
def _list_delayed(d: "FlyMQv1", conn: "Connection", req: m.ListDelayedRequest) -> Any:
    session = conn.session
    entries = session.list_delayed(req.topic, req.limit)
    return m.ListDelayedResponse(session.count_delayed(req.topic),
                                 [m.DelayedEntry(e["id"], e["due_at"]) for e in entries])


# --- dead-letter queues -----------------------------------------------------------------------------

@op(Op.FETCH_DLQ, m.FetchDLQRequest, feature="dlq")
def _fetch_dlq(d: "FlyMQv1", conn: "Connection", req: m.FetchDLQRequest) -> Any:
    return m.FetchDLQResponse([m.DLQEntry(e.id, e.data, e.error, e.retries)
                               for e in conn.session.fetch_dlq(req.topic, req.max_messages)])


@op(Op.FETCH_DLQ_EX, m.FetchDLQExRequest, feature="dlq")
def _fetch_dlq_ex(d: "FlyMQv1", conn: "Connection", req: m.FetchDLQExRequest) -> Any:
    found = conn.session.fetch_dlq(req.topic, req.max_messages, req.offset)
    return m.FetchDLQExResponse([m.DLQExEntry(
        e.offset, e.id, e.topic, -1 if e.original_partition is None else e.original_partition,
        -1 if e.original_offset is None else e.original_offset, e.key or b"", e.data, e.headers,
        e.reason, e.error, e.retries, int(e.timestamp.timestamp() * 1000)) for e in found])


@op(Op.REPLAY_DLQ, m.ReplayDLQRequest, disk=True, feature="dlq")
def _replay_dlq(d: "FlyMQv1", conn: "Connection", req: m.ReplayDLQRequest) -> Any:
    """Both forms (§6.3.2); an entry that is not there is upstream's soft failure."""
    session = conn.session
    if req.is_reinject:
        if session.re_inject_dlq(req.topic, req.offset):
            return m.ReInjectDLQResponse()
        return m.ReInjectDLQResponse(False, f"message not found at offset {req.offset}")
    try:
        session.replay_dlq(req.topic, req.message_id)
    except DeadLetterNotFoundError as exc:
        return m.SuccessResponse(False, exc.wire)
    return m.SuccessResponse()


@op(Op.PURGE_DLQ, m.TopicRequest, disk=True, feature="dlq")
def _purge_dlq(d: "FlyMQv1", conn: "Connection", req: m.TopicRequest) -> Any:
    conn.session.purge_dlq(req.topic)
    return m.SuccessResponse()


@op(Op.DEAD_LETTER, m.DeadLetterRequest, disk=True, feature="dlq")
def _dead_letter(d: "FlyMQv1", conn: "Connection", req: m.DeadLetterRequest) -> Any:
    return m.DeadLetterResponse(conn.session.dead_letter(
        req.topic, req.partition, req.offset, reason=req.reason, error=req.error,
        retry_count=req.retry_count, first_failed_at=req.first_failed_at or None))
