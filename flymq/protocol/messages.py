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

import itertools
import json
import struct
from typing import Any, Callable, NamedTuple, Sequence, TypeVar

from flymq.bulk import cut
from flymq.errors import InvalidRequestError, MessageTooLargeError
from flymq.models import RecordMetadata
from flymq.protocol.codec import (BOOL, BUFFER_TOO_SMALL, BYTES32, I32, I64, INVALID_FORMAT,
                                  STR8, STR16, U8, U16, U32, U64, FieldType, List32, Map32, Message,
                                  Nested, Optional, Reader, Writer, decode_error_prefix,
                                  field, message)
from flymq.protocol.frames import FLAG_BINARY, MAGIC, MAX_PAYLOAD, VERSION, encode_frame
from flymq.protocol.opcodes import Op
from flymq.wire_limits import PRODUCE_OVERHEAD

__all__ = [
    "REQUESTS", "RESPONSES", "request", "response",
    "ProduceRequest", "PRODUCE_OVERHEAD", "RecordMetadataResponse", "pack_record_metadata_tail",
    "ConsumeRequest", "ConsumeResponse",
    "CreateTopicRequest", "TopicRequest", "DeleteTopicRequest", "AckResponse", "ListTopicsRequest",
    "ListTopicsResponse", "SubscribeRequest", "OffsetResponse", "CommitRequest", "FetchRequest",
    "FetchRecord", "FetchResponse", "encode_fetch", "GroupPartitionRequest", "ResetOffsetRequest",
    "LagResponse", "ListGroupsRequest", "PartitionOffset", "GroupDescription",
    "ListGroupsResponse", "GroupRequest", "ClusterMetadataRequest", "PartitionInfo",
    "TopicPartitions", "ClusterMetadataResponse", "ErrorResponse", "EmptyRequest",
    "HelloRequest", "HelloResponse", "BatchRecord", "ProduceBatchRequest", "BatchResult",
    "TxnRecord", "ProduceTxBatchRequest",
    "ProduceBatchResponse", "FetchExRequest", "FetchExRecord", "FetchExResponse",
    "ServerInfoRequest", "ServerInfoResponse", "CreateTopicExRequest", "CreateTopicExResponse",
    "DescribeTopicResponse",
    "ProduceExRequest", "ListOffsetsRequest",
    "ListOffsetsResponse", "InitProducerIdResponse",
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
_KV_LEN = struct.Struct(">II")          # key length, value length
_BATCH_HEAD = struct.Struct(">qI")      # PRODUCE_BATCH reply: timestamp, result count
_BATCH_RESULT = struct.Struct(">iQ")    # partition, offset
_PRODUCER = struct.Struct(">qhi")       # producer_id, producer_epoch, base_sequence


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("invalid binary format: string field is not valid UTF-8") from None


_PRODUCE_HEAD = struct.Struct(">BBBBIH").pack   # frame header + topic length
_u16_at, _u32_at, _i32_at = _U16.unpack_from, _U32.unpack_from, _I32.unpack_from


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
         Op.WHOAMI, Op.SERVER_INFO, Op.INIT_PRODUCER_ID)
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
        return self.encode_fields(self.topic, self.key, self.value, self.partition)

    @staticmethod
    def encode_fields(topic: str, key: bytes, value: bytes, partition: int) -> bytes:
        """The payload without a message object (the client's hot path)."""
        return b"".join((_str16(topic), _U32.pack(len(key)), key, _U32.pack(len(value)),
                         value, _I32.pack(partition)))

    @staticmethod
    def encode_frame_fields(topic: str, key: bytes, value: bytes, partition: int) -> bytes:
        """``encode_frame(Op.PRODUCE, encode_fields(...))`` in one join: the value is copied
        once, not twice (the client's hot path; matters for large values)."""
        t = topic.encode("utf-8")
        n = len(t) + len(key) + len(value) + PRODUCE_OVERHEAD
        if len(t) > 0xFFFF:
            raise InvalidRequestError(f"string too long for the wire: {len(t)} > 65535 bytes")
        if n > MAX_PAYLOAD:
            raise MessageTooLargeError(n, MAX_PAYLOAD)
        return b"".join((_PRODUCE_HEAD(MAGIC, VERSION, Op.PRODUCE, FLAG_BINARY, n, len(t)), t,
                         _U32.pack(len(key)), key, _U32.pack(len(value)), value,
                         _I32.pack(partition)))

    @classmethod
    def decode(cls, payload: bytes) -> "ProduceRequest":
        return cls(*cls.decode_fields(payload))

    @staticmethod
    def decode_fields(payload: bytes, start: int = 0) -> tuple[str, bytes, bytes, int]:
        """``(topic, key, value, partition)`` without a message object (the server's hot
        path); same checks and errors as :meth:`decode`. ``start``: where the payload begins
        in ``payload`` (the server passes a whole frame and its header size: no copy of the
        payload, the value is copied once)."""
        n = len(payload)
        if n - start < PRODUCE_OVERHEAD:
            raise InvalidRequestError(BUFFER_TOO_SMALL)
        p = start + 2 + _u16_at(payload, start)[0]
        if p + 4 > n:
            raise InvalidRequestError(INVALID_FORMAT)
        try:  # _text inlined: a call less on every PRODUCE the server receives
            topic = payload[start + 2:p].decode("utf-8")
        except UnicodeDecodeError:
            topic = _text(payload[start + 2:p])  # raises the protocol's error
        k = p + 4
        k_end = k + _u32_at(payload, p)[0]
        if k_end + 4 > n:
            raise InvalidRequestError(INVALID_FORMAT)
        v = k_end + 4
        v_end = v + _u32_at(payload, k_end)[0]
        if v_end + 4 > n:
            raise InvalidRequestError(INVALID_FORMAT)
        return (topic, payload[k:k_end], payload[v:v_end],
                _i32_at(payload, v_end)[0])


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

    @staticmethod
    def encode_model(rm: RecordMetadata) -> bytes:
        """``from_model(rm).encode()`` without the message object (the server's hot path)."""
        return _str16(rm.topic) + _RM_TAIL.pack(rm.partition, rm.offset, rm.timestamp,
                                                rm.key_size, rm.value_size)

    def to_model(self) -> RecordMetadata:
        return RecordMetadata(self.topic, self.partition, self.offset, self.timestamp,
                              self.key_size, self.value_size)

    @staticmethod
    def decode_model(payload: bytes) -> RecordMetadata:
        """Straight to the public model (the client's hot path)."""
        return RecordMetadata(*_decode_rm(payload))

    @staticmethod
    def frame_prefix(topic: str) -> bytes:
        """The PRODUCE reply frame for ``topic`` up to its :data:`pack_record_metadata_tail`:
        it depends on the topic only, so a server caches it and packs just the tail."""
        return encode_frame(Op.PRODUCE, _str16(topic) + bytes(_RM_TAIL.size))[:-_RM_TAIL.size]


#: ``pack(partition, offset, timestamp, key_size, value_size)``: a RecordMetadata payload
#: after its topic (the server caches the frame header and topic per topic).
pack_record_metadata_tail = _RM_TAIL.pack


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


@request(Op.DELETE_TOPIC, Op.DESCRIBE_TOPIC)
@message
class TopicRequest(Message):
    """A request that is a single topic name (DELETE_TOPIC, DESCRIBE_TOPIC, PURGE_DLQ,
    ACL_GET, ACL_DELETE)."""

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
        return encode_fetch(self.next_offset, [r.offset for r in self.records],
                            [r.key for r in self.records], [r.value for r in self.records])

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


def encode_fetch(next_offset: int, offsets: Sequence[int], keys: Sequence[bytes | None],
                 values: Sequence[bytes]) -> bytes:
    """A FETCH reply straight from columns (None key = empty), interleaved in C."""
    keys = [k or b"" for k in keys]
    return b"".join(itertools.chain(
        (_FETCH_HEAD.pack(len(offsets), next_offset),),
        itertools.chain.from_iterable(zip(map(_REC_HEAD.pack, offsets, map(len, keys)), keys,
                                          map(_U32.pack, map(len, values)), values))))


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
    """The hot paths skip the per-record ``BatchRecord`` objects: :meth:`encode_records` and
    :meth:`decode_records` work on ``(key, value, partition)`` tuples (key ``b""`` = none).

    An idempotent producer appends ``producer_id``, ``producer_epoch`` and ``base_sequence``
    after the records; without them (older clients) the batch is not idempotent (-1)."""

    topic: str = field(STR16)
    records: list[BatchRecord] = field(List32(Nested(BatchRecord)), [])
    producer_id: int = -1
    producer_epoch: int = -1
    base_sequence: int = -1

    def encode(self) -> bytes:
        return self.encode_records(self.topic, [(r.key, r.value, r.partition)
                                                for r in self.records], self.producer)

    @classmethod
    def decode(cls, payload: bytes) -> "ProduceBatchRequest":
        topic, records, producer = cls.decode_records(payload)
        return cls(topic, [BatchRecord(k, v, p) for k, v, p in records],
                   *(producer or (-1, -1, -1)))

    @property
    def producer(self) -> tuple[int, int, int] | None:
        """``(producer_id, epoch, base_sequence)``, or None when not idempotent."""
        if self.producer_id < 0:
            return None
        return self.producer_id, self.producer_epoch, self.base_sequence

    @staticmethod
    def encode_records(topic: str, records: list[tuple[bytes | None, bytes, int]],
                       producer: tuple[int, int, int] | None = None) -> bytes:
        parts = [_str16(topic), _U32.pack(len(records))]
        add = parts.append
        pack_lengths, pack_partition = _KV_LEN.pack, _I32.pack
        for k, v, p in records:
            if k:
                add(_U32.pack(len(k)) + k)
                add(_U32.pack(len(v)))
            else:
                add(pack_lengths(0, len(v)))
            add(v)
            add(pack_partition(p))
        if producer is not None:
            add(_PRODUCER.pack(*producer))
        return b"".join(parts)

    @staticmethod
    def decode_records(payload: bytes) -> tuple[str, list[tuple[bytes, bytes, int]],
                                                tuple[int, int, int] | None]:
        n = len(payload)
        if n < 6:
            raise InvalidRequestError(BUFFER_TOO_SMALL)
        p = 2 + _U16.unpack_from(payload)[0]
        if p + 4 > n:
            raise InvalidRequestError(INVALID_FORMAT)
        topic = _text(payload[2:p])
        (count,) = _U32.unpack_from(payload, p)
        p += 4
        if count * 12 > n - p:
            raise InvalidRequestError(INVALID_FORMAT)
        u32, i32 = _U32.unpack_from, _I32.unpack_from
        records = []
        add = records.append
        for _ in range(count):
            if p + 8 > n:
                raise InvalidRequestError(INVALID_FORMAT)
            k_end = p + 4 + u32(payload, p)[0]
            if k_end + 4 > n:
                raise InvalidRequestError(INVALID_FORMAT)
            v_end = k_end + 4 + u32(payload, k_end)[0]
            if v_end + 4 > n:
                raise InvalidRequestError(INVALID_FORMAT)
            add((payload[p + 4:k_end], payload[k_end + 4:v_end], i32(payload, v_end)[0]))
            p = v_end + 4
        producer = None
        if n - p >= _PRODUCER.size:
            producer = _PRODUCER.unpack_from(payload, p)
            if producer[0] < 0:
                producer = None
        return topic, records, producer


@message
class TxnRecord(Message):
    topic: str = field(STR16)
    value: bytes = field(BYTES32, b"")


@request(Op.PRODUCE_TX_BATCH)
@message
class ProduceTxBatchRequest(Message):
    """flymq extension 0xDC: records added to a transaction, all or none, then its commit if
    ``commit``; ``begin``: begin it first, under the id the client picked. A whole
    transaction in one round trip. The hot paths work on ``(topic, value)`` tuples, as
    :class:`ProduceBatchRequest` does."""

    txn_id: str = field(STR16)
    commit: bool = field(BOOL, False)
    begin: bool = field(BOOL, False)
    records: list[TxnRecord] = field(List32(Nested(TxnRecord)), [])

    def encode(self) -> bytes:
        return self.encode_records(self.txn_id, self.commit, self.begin,
                                   [(r.topic, r.value) for r in self.records])

    @classmethod
    def decode(cls, payload: bytes) -> "ProduceTxBatchRequest":
        txn_id, commit, begin, records = cls.decode_records(payload)
        return cls(txn_id, commit, begin, [TxnRecord(t, v) for t, v in records])

    @staticmethod
    def encode_records(txn_id: str, commit: bool, begin: bool,
                       records: list[tuple[str, bytes]]) -> bytes:
        parts = [_str16(txn_id), _FLAGS2[commit, begin], _U32.pack(len(records))]
        add = parts.append
        topics: dict[str, bytes] = {}   # a topic's str16, encoded once
        for topic, value in records:
            head = topics.get(topic)
            if head is None:
                head = topics[topic] = _str16(topic)
            add(head)
            add(_U32.pack(len(value)))
            add(value)
        return b"".join(parts)

    @staticmethod
    def decode_records(payload: bytes) -> tuple[str, bool, bool, list[tuple[str, bytes]]]:
        n = len(payload)
        if n < 8:
            raise InvalidRequestError(BUFFER_TOO_SMALL)
        p = 2 + _U16.unpack_from(payload)[0]
        if p + 6 > n:
            raise InvalidRequestError(INVALID_FORMAT)
        txn_id = _text(payload[2:p])
        commit, begin = payload[p] != 0, payload[p + 1] != 0
        (count,) = _U32.unpack_from(payload, p + 2)
        p += 6
        if count * 6 > n - p:
            raise InvalidRequestError(INVALID_FORMAT)
        u16, u32 = _U16.unpack_from, _U32.unpack_from
        topics: dict[bytes, str] = {}
        records = []
        for _ in range(count):
            if p + 6 > n:
                raise InvalidRequestError(INVALID_FORMAT)
            t_end = p + 2 + u16(payload, p)[0]
            if t_end + 4 > n:
                raise InvalidRequestError(INVALID_FORMAT)
            raw = payload[p + 2:t_end]
            topic = topics.get(raw)
            if topic is None:
                topic = topics[raw] = _text(raw)
            v_end = t_end + 4 + u32(payload, t_end)[0]
            if v_end > n:
                raise InvalidRequestError(INVALID_FORMAT)
            records.append((topic, payload[t_end + 4:v_end]))
            p = v_end
        return txn_id, commit, begin, records


#: Two bools as their wire bytes, by value.
_FLAGS2 = {(c, b): bytes((c, b)) for c in (False, True) for b in (False, True)}

response(Op.PRODUCE_TX_BATCH)(AckResponse)


@message
class BatchResult(Message):
    partition: int = field(I32)
    offset: int = field(U64)


@response(Op.PRODUCE_BATCH)
@message
class ProduceBatchResponse(Message):
    """Like the request, with tuple-based hot paths: ``(partition, offset)`` pairs."""

    timestamp: int = field(I64)
    results: list[BatchResult] = field(List32(Nested(BatchResult)), [])

    def encode(self) -> bytes:
        return self.encode_results(self.timestamp, [(r.partition, r.offset)
                                                    for r in self.results])

    @classmethod
    def decode(cls, payload: bytes) -> "ProduceBatchResponse":
        timestamp, results = cls.decode_results(payload)
        return cls(timestamp, [BatchResult(p, o) for p, o in results])

    @staticmethod
    def encode_results(timestamp: int, results: list[tuple[int, int]]) -> bytes:
        return _BATCH_HEAD.pack(timestamp, len(results)) + b"".join(
            itertools.starmap(_BATCH_RESULT.pack, results))

    @staticmethod
    def decode_results(payload: bytes) -> tuple[int, list[tuple[int, int]]]:
        if len(payload) < _BATCH_HEAD.size:
            raise InvalidRequestError(BUFFER_TOO_SMALL)
        timestamp, count = _BATCH_HEAD.unpack_from(payload)
        end = _BATCH_HEAD.size + count * _BATCH_RESULT.size
        if end > len(payload):
            raise InvalidRequestError(INVALID_FORMAT)
        return timestamp, list(_BATCH_RESULT.iter_unpack(payload[_BATCH_HEAD.size:end]))


@response(Op.INIT_PRODUCER_ID)
@message
class InitProducerIdResponse(Message):
    """The reply of ``0xC7`` INIT_PRODUCER_ID (the request is empty)."""

    producer_id: int = field(I64)
    producer_epoch: int = field(U16)


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


class FetchExRecord(NamedTuple):
    """One record of a FETCH_EX reply, as a row (:attr:`FetchExResponse.records`)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]


_FETCH_EX_HEAD = struct.Struct(">QQQI")  # next_offset, high_watermark, log_start, count
_HEADERS = Map32()


@response(Op.FETCH_EX)
@message(min_size=_FETCH_EX_HEAD.size)
class FetchExResponse(Message):
    """Columnar: all offsets, then all timestamps, key sizes, value sizes and header-block
    sizes, then the keys, values and header blocks back to back (docs/protocol-extensions.md).
    Both sides pack and cut whole columns in single ``struct`` calls.

    ``keys[i]`` is None for a record without a key; ``headers[i]`` is None without headers.
    """

    next_offset: int
    high_watermark: int = 0
    log_start: int = 0
    offsets: Sequence[int] = ()
    timestamps: Sequence[int] = ()
    keys: Sequence[bytes | None] = ()
    values: Sequence[bytes] = ()
    headers: Sequence[dict[str, str] | None] = ()

    @property
    def records(self) -> list[FetchExRecord]:
        """The records as rows (convenient for inspection; readers use the columns)."""
        return [FetchExRecord(o, t, k, v, h or {}) for o, t, k, v, h in
                zip(self.offsets, self.timestamps, self.keys, self.values, self.headers)]

    #: Reply bytes per record besides its key, value and headers (offset, timestamp and three
    #: sizes), which a fetch's byte budget does not count.
    RECORD_OVERHEAD = 28

    @classmethod
    def most_records(cls, value_bytes: int) -> int:
        """How many records a reply carrying ``value_bytes`` of values can hold and still fit
        one frame (their keys and headers aside)."""
        return max(1, (MAX_PAYLOAD - value_bytes - _FETCH_EX_HEAD.size) // cls.RECORD_OVERHEAD)

    def encode(self) -> bytes:
        n = len(self.offsets)
        blocks = [b"" if h is None else _header_block(h) for h in self.headers]
        return b"".join([
            _FETCH_EX_HEAD.pack(self.next_offset, self.high_watermark, self.log_start, n),
            struct.pack(f">{n}Q", *self.offsets), struct.pack(f">{n}q", *self.timestamps),
            struct.pack(f">{n}i", *[-1 if k is None else len(k) for k in self.keys]),
            struct.pack(f">{n}I", *map(len, self.values)),
            struct.pack(f">{n}I", *map(len, blocks)),
            *filter(None, self.keys), *self.values, *blocks])

    @classmethod
    def decode(cls, payload: bytes) -> "FetchExResponse":
        if len(payload) < _FETCH_EX_HEAD.size:
            raise InvalidRequestError(BUFFER_TOO_SMALL)
        next_offset, high_watermark, log_start, n = _FETCH_EX_HEAD.unpack_from(payload)
        p = _FETCH_EX_HEAD.size
        if n * 28 > len(payload) - p:
            raise InvalidRequestError(INVALID_FORMAT)
        try:
            offsets = list(struct.unpack_from(f">{n}Q", payload, p))
            timestamps = list(struct.unpack_from(f">{n}q", payload, p + 8 * n))
            key_sizes = struct.unpack_from(f">{n}i", payload, p + 16 * n)
            value_sizes = struct.unpack_from(f">{n}I", payload, p + 20 * n)
            block_sizes = struct.unpack_from(f">{n}I", payload, p + 24 * n)
            keys, p = cut(payload, p + 28 * n, [k if k > 0 else 0 for k in key_sizes])
            keys = [None if k < 0 else key for key, k in zip(keys, key_sizes)] \
                if -1 in key_sizes else list(keys)
            values, p = cut(payload, p, value_sizes)
            blocks, p = cut(payload, p, block_sizes)
        except struct.error:
            raise InvalidRequestError(INVALID_FORMAT) from None
        headers = [_HEADERS.read(Reader(b)) if b else None for b in blocks] if any(blocks) \
            else [None] * n
        return cls(next_offset, high_watermark, log_start, offsets, timestamps, keys,
                   list(values), headers)


def _header_block(headers: dict[str, str]) -> bytes:
    w = Writer()
    _HEADERS.write(w, headers)
    return w.getvalue()


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


@response(Op.DESCRIBE_TOPIC)
@message
class DescribeTopicResponse(Message):
    """``Broker.describe_topic`` as a JSON object: an admin view whose fields will grow, so
    it travels as JSON like SERVER_INFO."""

    topic: dict[str, Any] = field(JSON32, {})


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
