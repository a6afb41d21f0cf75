"""flymq extension messages of delayed delivery and dead-letter queues (``0xD5``-``0xD9``,
layouts in docs/protocol-extensions.md). Upstream's own opcodes (PRODUCE_DELAYED,
PRODUCE_WITH_TTL, the DLQ operations) are in :mod:`flymq.protocol.admin`."""

from __future__ import annotations

from flymq.protocol.codec import (BYTES32, I32, I64, STR16, U64, List32, Map32, Message, Nested,
                                  field, message)
from flymq.protocol.messages import AckResponse, request, response
from flymq.protocol.opcodes import Op

__all__ = [
    "ProduceDelayedExRequest", "DelayedMetadataResponse", "CancelDelayedRequest",
    "ListDelayedRequest", "DelayedEntry", "ListDelayedResponse", "FetchDLQExRequest",
    "DLQExEntry", "FetchDLQExResponse", "DeadLetterRequest", "DeadLetterResponse",
]


@request(Op.PRODUCE_DELAYED_EX)
@message
class ProduceDelayedExRequest(Message):
    topic: str = field(STR16)
    key: bytes = field(BYTES32, b"")          # empty = no key
    value: bytes = field(BYTES32, b"")
    partition: int = field(I32, -1)           # -1 = key hash or round-robin at delivery
    delay_ms: int = field(I64, 0)
    headers: dict[str, str] = field(Map32(), {})


@response(Op.PRODUCE_DELAYED_EX)
@message
class DelayedMetadataResponse(Message):
    """RecordMetadata (offset 0 until delivery) plus the id that cancels the message."""

    topic: str = field(STR16)
    partition: int = field(I32)
    offset: int = field(U64)
    timestamp: int = field(I64)
    key_size: int = field(I32, -1)
    value_size: int = field(I32, 0)
    delay_id: str = field(STR16, "")
    due_at: int = field(I64, 0)


@request(Op.CANCEL_DELAYED_EX)
@message
class CancelDelayedRequest(Message):
    delay_id: str = field(STR16)


response(Op.CANCEL_DELAYED_EX)(AckResponse)


@request(Op.LIST_DELAYED)
@message
class ListDelayedRequest(Message):
    topic: str = field(STR16)
    limit: int = field(I32, 1000)


@message
class DelayedEntry(Message):
    delay_id: str = field(STR16)
    due_at: int = field(I64)


@response(Op.LIST_DELAYED)
@message
class ListDelayedResponse(Message):
    pending: int = field(U64, 0)              # all pending messages of the topic
    entries: list[DelayedEntry] = field(List32(Nested(DelayedEntry)), [])


@request(Op.FETCH_DLQ_EX)
@message
class FetchDLQExRequest(Message):
    topic: str = field(STR16)
    offset: int = field(U64, 0)               # DLQ offset to read from
    max_messages: int = field(I32, 10)


@message
class DLQExEntry(Message):
    offset: int = field(U64)
    id: str = field(STR16)
    original_topic: str = field(STR16, "")
    original_partition: int = field(I32, -1)
    original_offset: int = field(I64, -1)
    key: bytes = field(BYTES32, b"")
    value: bytes = field(BYTES32, b"")
    headers: dict[str, str] = field(Map32(), {})
    reason: str = field(STR16, "")
    error: str = field(STR16, "")
    retries: int = field(I32, 0)
    last_failed_at: int = field(I64, 0)


@response(Op.FETCH_DLQ_EX)
@message
class FetchDLQExResponse(Message):
    entries: list[DLQExEntry] = field(List32(Nested(DLQExEntry)), [])


@request(Op.DEAD_LETTER)
@message
class DeadLetterRequest(Message):
    topic: str = field(STR16)
    partition: int = field(I32, 0)
    offset: int = field(U64, 0)
    reason: str = field(STR16, "processing_error")
    error: str = field(STR16, "")
    retry_count: int = field(I32, 0)
    first_failed_at: int = field(I64, 0)      # 0 = now


@response(Op.DEAD_LETTER)
@message
class DeadLetterResponse(Message):
    id: str = field(STR16)
