"""Core and extension messages: one class per request and per response (wire-protocol.md §6.1,
§5, docs/protocol-extensions.md), plus the ``REQUESTS``/``RESPONSES`` registries.

Server use::

    req = REQUESTS[op].decode(frame_payload(frame))        # KeyError -> unknown opcode
    ...call the broker...
    out = encode_frame(reply_op(op), SomeResponse(...).encode())
    # on failure: encode_frame(Op.ERROR, ErrorResponse(wire_text(exc)).encode())

Client use: ``RESPONSES[op].decode(payload)`` for the reply of request ``op``.
Import ``flymq.protocol`` (not this module alone) so that every opcode module has registered.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Callable, TypeVar

from flymq.errors import InvalidRequestError
from flymq.models import RecordMetadata
from flymq.protocol.codec import (BOOL, BUFFER_TOO_SMALL, BYTES32, I32, I64, INVALID_FORMAT,
                                  STR8, STR16, U8, U32, U64, FieldType, List32, Map32, Message,
                                  Nested, Optional, Reader, Writer, decode_error_prefix,
                                  field, message)
from flymq.protocol.opcodes import Op

__all__ = [
    "REQUESTS", "RESPONSES", "request", "response",
    "ProduceRequest", "RecordMetadataResponse", "ConsumeRequest", "ConsumeResponse",
    "CreateTopicRequest", "TopicRequest", "DeleteTopicRequest", "AckResponse", "ListTopicsRequest",
    "ListTopicsResponse", "SubscribeRequest", "OffsetResponse", "CommitRequest", "FetchRequest",
    "FetchRecord", "FetchResponse", "GroupPartitionRequest", "ResetOffsetRequest",
    "LagResponse", "ListGroupsRequest", "PartitionOffset", "GroupDescription",
    "ListGroupsResponse", "GroupRequest", "ClusterMetadataRequest", "PartitionInfo",
    "TopicPartitions", "ClusterMetadataResponse", "ErrorResponse", "EmptyRequest",
    "HelloRequest", "HelloResponse", "BatchRecord", "ProduceBatchRequest", "BatchResult",
    "ProduceBatchResponse", "FetchExRequest", "FetchExRecord", "FetchExResponse",
    "ServerInfoRequest", "ServerInfoResponse", "CreateTopicExRequest", "CreateTopicExResponse",
    "ProduceExRequest", "ListOffsetsRequest",
    "ListOffsetsResponse",
]

REQUESTS: dict[Op, type[Message]] = {}
RESPONSES: dict[Op, type[Message]] = {}

M = TypeVar("M", bound=type[Message])


def _registrar(table: dict[Op, type[Message]]) -> Callable[..., Callable[[M], M]]:
    def register(*ops: Op) -> Callable[[M], M]:
        def deco(cls: M) -> M:
            for op in ops:
                table[op] = cls
            return cls
        return deco
    return register


request = _registrar(REQUESTS)
response = _registrar(RESPONSES)

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_U64 = struct.Struct(">Q")
_RM_TAIL = struct.Struct(">iQqii")      # partition, offset, timestamp, key_size, value_size
_FETCH_HEAD = struct.Struct(">IQ")      # count, next_offset
_REC_HEAD = struct.Struct(">QI")        # offset, key length


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("invalid binary format: string field is not valid UTF-8") from None


def _str16(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 0xFFFF:
        raise InvalidRequestError(f"string too long for the wire: {len(b)} > 65535 bytes")
    return _U16.pack(len(b)) + b


def _lenient_filter(r: Reader) -> str:
    """FETCH filter: optional, and an overrunning length means "no filter" (§6.1.7)."""
    if r.remaining < 2:
        return ""
    n = r.u16()
    return r._text(n) if n <= r.remaining else ""


_FILTER = FieldType(0, _lenient_filter, Writer.str16, "", ("str16",))


def _read_json(r: Reader) -> dict:
    try:
        value = json.loads(r.bytes32())
    except ValueError:
        raise InvalidRequestError("invalid binary format: malformed JSON document") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("invalid binary format: JSON document is not an object")
    return value


JSON32 = FieldType(4, _read_json,
                   lambda w, v: w.bytes32(json.dumps(v, separators=(",", ":"),
                                                     default=str).encode()), None,
                   ("json32",))


@request(Op.LIST_TOPICS, Op.LIST_GROUPS, Op.BEGIN_TX, Op.USER_LIST, Op.ACL_LIST, Op.ROLE_LIST,
         Op.WHOAMI, Op.SERVER_INFO)
@message
class EmptyRequest(Message):
    """Requests without fields; any payload is ignored."""


ListTopicsRequest = ListGroupsRequest = ServerInfoRequest = EmptyRequest


# --- 0x01 PRODUCE and the RecordMetadata reply -----------------------------------------------

@request(Op.PRODUCE)
@message
class ProduceRequest(Message):
    topic: str = field(STR16)
    key: bytes = field(BYTES32, b"")
    value: bytes = field(BYTES32, b"")
    partition: int = field(I32, -1)

    def encode(self) -> bytes:
        k, v = self.key, self.value
        return b"".join((_str16(self.topic), _U32.pack(len(k)), k, _U32.pack(len(v)), v,
                         _I32.pack(self.partition)))

    @classmethod
    def decode(cls, payload: bytes) -> "ProduceRequest":
        n = len(payload)
        if n < 14:
            raise InvalidRequestError(BUFFER_TOO_SMALL)
        p = 2 + _U16.unpack_from(payload)[0]
        if p + 4 > n:
            raise InvalidRequestError(INVALID_FORMAT)
        topic = _text(payload[2:p])
        k_end = p + 4 + _U32.unpack_from(payload, p)[0]
        if k_end + 4 > n:
            raise InvalidRequestError(INVALID_FORMAT)
        v_end = k_end + 4 + _U32.unpack_from(payload, k_end)[0]
        if v_end + 4 > n:
            raise InvalidRequestError(INVALID_FORMAT)
        return cls(topic, payload[p + 4:k_end], payload[k_end + 4:v_end],
                   _I32.unpack_from(payload, v_end)[0])


@response(Op.PRODUCE, Op.PRODUCE_WITH_SCHEMA, Op.PRODUCE_DELAYED, Op.PRODUCE_WITH_TTL,
          Op.PRODUCE_TX, Op.PRODUCE_EX)
@message
class RecordMetadataResponse(Message):
    """RecordMetadata (§6.1.1): the reply of every produce opcode; ``key_size`` -1 = no key."""

    topic: str = field(STR16)
    partition: int = field(I32)
    offset: int = field(U64)
    timestamp: int = field(I64)
    key_size: int = field(I32, -1)
    value_size: int = field(I32, 0)

    def encode(self) -> bytes:
        return _str16(self.topic) + _RM_TAIL.pack(self.partition, self.offset, self.timestamp,
                                                  self.key_size, self.value_size)

    @classmethod
    def decode(cls, payload: bytes) -> "RecordMetadataResponse":
        return cls(*_decode_rm(payload))

    @classmethod
    def from_model(cls, rm: RecordMetadata) -> "RecordMetadataResponse":
        return cls(rm.topic, rm.partition, rm.offset, rm.timestamp, rm.key_size, rm.value_size)

    def to_model(self) -> RecordMetadata:
        return RecordMetadata(self.topic, self.partition, self.offset, self.timestamp,
                              self.key_size, self.value_size)

    @staticmethod
    def decode_model(payload: bytes) -> RecordMetadata:
        """Straight to the public model (the client's hot path)."""
        return RecordMetadata(*_decode_rm(payload))


def _decode_rm(payload: bytes) -> tuple:
    n = len(payload)
    if n < 30:
        raise InvalidRequestError(BUFFER_TOO_SMALL)
    p = 2 + _U16.unpack_from(payload)[0]
    if p + 28 > n:
        raise InvalidRequestError(INVALID_FORMAT)
    return (_text(payload[2:p]), *_RM_TAIL.unpack_from(payload, p))


# --- 0x02 CONSUME / 0x0A CONSUME_ZERO_COPY ---------------------------------------------------

@request(Op.CONSUME, Op.CONSUME_ZERO_COPY)
@message
class ConsumeRequest(Message):
    topic: str = field(STR16)
    partition: int = field(I32, 0)
    offset: int = field(U64, 0)


@response(Op.CONSUME, Op.CONSUME_ZERO_COPY)
@message
class ConsumeResponse(Message):
    key: bytes = field(BYTES32, b"")
    value: bytes = field(BYTES32, b"")


# --- topics ----------------------------------------------------------------------------------

@request(Op.CREATE_TOPIC)
@message
class CreateTopicRequest(Message):
    topic: str = field(STR16)
    partitions: int = field(I32, 1)


@request(Op.DELETE_TOPIC)
@message
class TopicRequest(Message):
    """A request that is a single topic name (DELETE_TOPIC, PURGE_DLQ, ACL_GET, ACL_DELETE)."""

    topic: str = field(STR16)


DeleteTopicRequest = TopicRequest


@response(Op.CREATE_TOPIC, Op.DELETE_TOPIC, Op.COMMIT, Op.RESET_OFFSET, Op.DELETE_GROUP)
@message
class AckResponse(Message):
    """The one-byte ``0x01`` reply; clients ignore it, so an empty payload is tolerated."""

    ok: bool = field(Optional(BOOL, True), True)


@response(Op.LIST_TOPICS)
@message
class ListTopicsResponse(Message):
    topics: list[str] = field(List32(STR16), [])


# --- consumer groups ---------------------------------------------------------------------------

@request(Op.SUBSCRIBE)
@message
class SubscribeRequest(Message):
    topic: str = field(STR16)
    group_id: str = field(STR16, "")
    partition: int = field(I32, 0)
    mode: str = field(STR8, "latest")


@response(Op.SUBSCRIBE, Op.GET_OFFSET)
@message
class OffsetResponse(Message):
    offset: int = field(U64)


@request(Op.COMMIT)
@message
class CommitRequest(Message):
    topic: str = field(STR16)
    group_id: str = field(STR16)
    partition: int = field(I32)
    offset: int = field(U64)


@request(Op.GET_OFFSET, Op.GET_LAG)
@message
class GroupPartitionRequest(Message):
    topic: str = field(STR16)
    group_id: str = field(STR16)
    partition: int = field(I32, 0)


@request(Op.RESET_OFFSET)
@message
class ResetOffsetRequest(Message):
    """``offset`` travels only for mode ``offset``; trailing bytes for other modes are ignored."""

    topic: str = field(STR16)
    group_id: str = field(STR16)
    partition: int = field(I32, 0)
    mode: str = field(STR8, "earliest")
    offset: int | None = field(Optional(U64), None)


@response(Op.GET_LAG)
@message
class LagResponse(Message):
    current_offset: int = field(U64)
    committed_offset: int = field(U64)
    latest_offset: int = field(U64)
    lag: int = field(U64)


@message
class PartitionOffset(Message):
    partition: int = field(I32)
    offset: int = field(U64)


@response(Op.DESCRIBE_GROUP)
@message
class GroupDescription(Message):
    topic: str = field(STR16)
    group_id: str = field(STR16)
    members: int = field(U32, 0)
    offsets: list[PartitionOffset] = field(List32(Nested(PartitionOffset)), [])

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "group_id": self.group_id, "members": self.members,
                "offsets": [{"partition": o.partition, "offset": o.offset} for o in self.offsets]}


@response(Op.LIST_GROUPS)
@message
class ListGroupsResponse(Message):
    groups: list[GroupDescription] = field(List32(Nested(GroupDescription)), [])


@request(Op.DESCRIBE_GROUP, Op.DELETE_GROUP)
@message
class GroupRequest(Message):
    topic: str = field(STR16)
    group_id: str = field(STR16)


# --- 0x07 FETCH / 0x0B FETCH_BINARY ------------------------------------------------------------

@request(Op.FETCH, Op.FETCH_BINARY)
@message
class FetchRequest(Message):
    topic: str = field(STR16)
    partition: int = field(I32, 0)
    offset: int = field(U64, 0)
    max_messages: int = field(I32, 10)
    filter: str = field(_FILTER, "")


@message
class FetchRecord(Message):
    offset: int = field(U64)
    key: bytes = field(BYTES32, b"")
    value: bytes = field(BYTES32, b"")


@response(Op.FETCH, Op.FETCH_BINARY)
@message(min_size=12)
class FetchResponse(Message):
    """Wire order is count, next_offset, records (the count precedes next_offset)."""

    records: list[FetchRecord]
    next_offset: int

    def encode(self) -> bytes:
        parts = [_FETCH_HEAD.pack(len(self.records), self.next_offset)]
        for rec in self.records:
            k, v = rec.key, rec.value
            parts += (_REC_HEAD.pack(rec.offset, len(k)), k, _U32.pack(len(v)), v)
        return b"".join(parts)

    @classmethod
    def decode(cls, payload: bytes) -> "FetchResponse":
        n = len(payload)
        if n < 12:
            raise InvalidRequestError(BUFFER_TOO_SMALL)
        count, next_offset = _FETCH_HEAD.unpack_from(payload)
        if count * 16 > n - 12:
            raise InvalidRequestError(INVALID_FORMAT)
        records, p = [], 12
        for _ in range(count):
            if p + 16 > n:
                raise InvalidRequestError(INVALID_FORMAT)
            offset, klen = _REC_HEAD.unpack_from(payload, p)
            k_end = p + 12 + klen
            if k_end + 4 > n:
                raise InvalidRequestError(INVALID_FORMAT)
            v_end = k_end + 4 + _U32.unpack_from(payload, k_end)[0]
            if v_end > n:
                raise InvalidRequestError(INVALID_FORMAT)
            records.append(FetchRecord(offset, payload[p + 12:k_end], payload[k_end + 4:v_end]))
            p = v_end
        return cls(records, next_offset)


# --- 0x53 CLUSTER_METADATA ---------------------------------------------------------------------

@request(Op.CLUSTER_METADATA)
@decode_error_prefix("invalid request: ")
@message
class ClusterMetadataRequest(Message):
    """An empty payload also means "all topics"."""

    topic: str = field(Optional(STR16, ""), "")


@message
class PartitionInfo(Message):
    partition: int = field(I32)
    leader_id: str = field(STR16, "")
    leader_addr: str = field(STR16, "")
    epoch: int = field(U64, 1)
    state: str = field(STR16, "online")
    replicas: list[str] = field(List32(STR16), [])
    isr: list[str] = field(List32(STR16), [])


@message
class TopicPartitions(Message):
    name: str = field(STR16)
    partitions: list[PartitionInfo] = field(List32(Nested(PartitionInfo)), [])


@response(Op.CLUSTER_METADATA)
@message
class ClusterMetadataResponse(Message):
    cluster_id: str = field(STR16, "standalone")
    topics: list[TopicPartitions] = field(List32(Nested(TopicPartitions)), [])


# --- 0xFF ERROR ----------------------------------------------------------------------------------

@message
class ErrorResponse(Message):
    """E-STRUCT on encode (``i32 code=1`` + ``str16``); decodes E-STRUCT or E-TEXT by the
    exact-length rule of §5.3, so no message loses characters."""

    message: str
    code: int = 1

    def encode(self) -> bytes:
        data = self.message.encode("utf-8")
        if len(data) > 0xFFFF:  # cut on a character boundary: SDKs decode the text strictly
            data = data[:0xFFFF].decode("utf-8", "ignore").encode("utf-8")
        return _I32.pack(self.code) + _U16.pack(len(data)) + data

    @classmethod
    def decode(cls, payload: bytes) -> "ErrorResponse":
        n = len(payload)
        if n >= 6 and 6 + _U16.unpack_from(payload, 4)[0] == n:
            return cls(payload[6:].decode("utf-8", "replace"), _I32.unpack_from(payload)[0])
        return cls(bytes(payload).decode("utf-8", "replace"), 1)


# --- flymq extensions (docs/protocol-extensions.md) ---------------------------------------------

@request(Op.HELLO)
@message
class HelloRequest(Message):
    client_name: str = field(STR16, "flymq")
    client_version: str = field(STR16, "")


@response(Op.HELLO)
@message
class HelloResponse(Message):
    server_name: str = field(STR16, "flymq")
    server_version: str = field(STR16, "")
    ops: list[int] = field(List32(U8), [])
    features: list[str] = field(List32(STR16), [])


@message
class BatchRecord(Message):
    key: bytes = field(BYTES32, b"")
    value: bytes = field(BYTES32, b"")
    partition: int = field(I32, -1)


@request(Op.PRODUCE_BATCH)
@message
class ProduceBatchRequest(Message):
    topic: str = field(STR16)
    records: list[BatchRecord] = field(List32(Nested(BatchRecord)), [])

    def encode(self) -> bytes:
        parts = [_str16(self.topic), _U32.pack(len(self.records))]
        for rec in self.records:
            k, v = rec.key, rec.value
            parts += (_U32.pack(len(k)), k, _U32.pack(len(v)), v, _I32.pack(rec.partition))
        return b"".join(parts)


@message
class BatchResult(Message):
    partition: int = field(I32)
    offset: int = field(U64)


@response(Op.PRODUCE_BATCH)
@message
class ProduceBatchResponse(Message):
    timestamp: int = field(I64)
    results: list[BatchResult] = field(List32(Nested(BatchResult)), [])


@request(Op.FETCH_EX)
@message
class FetchExRequest(Message):
    topic: str = field(STR16)
    partition: int = field(I32, 0)
    offset: int = field(U64, 0)
    max_messages: int = field(I32, 10)
    max_bytes: int = field(I32, 0)
    max_wait_ms: int = field(I32, 0)
    filter: str = field(STR16, "")


@message
class FetchExRecord(Message):
    offset: int = field(U64)
    timestamp: int = field(I64, 0)
    key: bytes = field(BYTES32, b"")
    value: bytes = field(BYTES32, b"")
    headers: dict[str, str] = field(Map32(), {})


@response(Op.FETCH_EX)
@message
class FetchExResponse(Message):
    next_offset: int = field(U64)
    high_watermark: int = field(U64, 0)
    log_start: int = field(U64, 0)
    records: list[FetchExRecord] = field(List32(Nested(FetchExRecord)), [])


@response(Op.SERVER_INFO)
@message
class ServerInfoResponse(Message):
    info: dict = field(JSON32, {})


@request(Op.CREATE_TOPIC_EX)
@message
class CreateTopicExRequest(Message):
    """CREATE_TOPIC with per-topic settings: a JSON object of ``TopicConfig`` fields."""

    topic: str = field(STR16)
    partitions: int = field(I32, 1)
    config: dict = field(JSON32, {})


@response(Op.CREATE_TOPIC_EX)
@message
class CreateTopicExResponse(Message):
    created: bool = field(BOOL, True)


@request(Op.PRODUCE_EX)
@message
class ProduceExRequest(Message):
    topic: str = field(STR16)
    key: bytes = field(BYTES32, b"")
    value: bytes = field(BYTES32, b"")
    partition: int = field(I32, -1)
    timestamp: int = field(I64, 0)
    headers: dict[str, str] = field(Map32(), {})


@request(Op.LIST_OFFSETS)
@message
class ListOffsetsRequest(Message):
    topic: str = field(STR16)
    partition: int = field(I32, 0)
    timestamp: int = field(I64, -1)


@response(Op.LIST_OFFSETS)
@message
class ListOffsetsResponse(Message):
    start_offset: int = field(U64)
    end_offset: int = field(U64)
    timestamp_offset: int = field(I64, -1)
