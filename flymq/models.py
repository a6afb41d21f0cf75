"""The data models shared by the broker, both transports and the public client API.

There is exactly one class per name: ``pyflymq.types.X``, ``pyflymq.models.X`` and
``pyflymq.X`` are all the objects defined here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple, Sequence

from flymq.lazy_list import LazyList

if TYPE_CHECKING:
    from flymq.message_list import MessageList


class SubscribeMode(str, enum.Enum):
    """Where a subscription starts when it asks the broker for a position."""

    EARLIEST = "earliest"
    LATEST = "latest"
    COMMIT = "commit"

    def __str__(self) -> str:
        return self.value


@dataclass(eq=False, init=False)
class RecordMetadata(int):
    """What the broker says about an appended record.

    It is also the integer offset of that record (upstream docs and tests use the result of
    ``produce()`` as an int: ``client.consume(topic, offset)``, ``offset >= 0``), while keeping
    every dataclass behaviour (fields, ``asdict``, a field-by-field ``repr``).
    """

    topic: str
    partition: int
    offset: int
    timestamp: int = 0
    key_size: int = -1
    value_size: int = 0

    def __new__(cls, topic: str, partition: int, offset: int, timestamp: int = 0,
                key_size: int = -1, value_size: int = 0) -> "RecordMetadata":
        # One step instead of __new__ + a generated __init__: every produce result is built
        # here. Filling __dict__ at once costs a third less, and through the descriptor's own
        # setter it skips our __setattr__ below (a Python call per result): 6.8k -> 4.9k
        # instructions per RecordMetadata.
        self = int.__new__(cls, offset)
        _set_instance_dict(self, {"topic": topic, "partition": partition, "offset": offset,
                                  "timestamp": timestamp, "key_size": key_size,
                                  "value_size": value_size})
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecordMetadata):
            return dataclasses.astuple(self) == dataclasses.astuple(other)
        return int(self) == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "offset":  # the int value cannot follow: refuse rather than disagree
            raise AttributeError("a RecordMetadata's offset is also its int value and cannot "
                                 "change; use dataclasses.replace(metadata, offset=...)")
        super().__setattr__(name, value)

    __hash__ = int.__hash__
    __str__ = int.__repr__
    __format__ = int.__format__

    def __reduce__(self):
        return (RecordMetadata, dataclasses.astuple(self))

    def __copy__(self) -> "RecordMetadata":
        return RecordMetadata(*dataclasses.astuple(self))

    def __deepcopy__(self, memo: dict) -> "RecordMetadata":
        return self.__copy__()

    @property
    def timestamp_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp / 1000.0)


#: The setter of ``RecordMetadata.__dict__`` (see ``RecordMetadata.__new__``).
_set_instance_dict = RecordMetadata.__dict__["__dict__"].__set__


class DelayedRecordMetadata(RecordMetadata):
    """The reply of ``produce_delayed``: upstream's provisional metadata (``offset`` 0, the
    real offset is assigned at delivery) plus ``delay_id``, which ``cancel_delayed`` takes,
    and ``due_at``, the clock time (ms) of delivery."""

    def __new__(cls, topic: str, partition: int, offset: int, timestamp: int = 0,
                key_size: int = -1, value_size: int = 0, delay_id: str = "",
                due_at: int = 0) -> "DelayedRecordMetadata":
        self = RecordMetadata.__new__(cls, topic, partition, offset, timestamp, key_size,
                                      value_size)
        self.__dict__.update(delay_id=delay_id, due_at=due_at)
        return self

    def __reduce__(self):
        return (DelayedRecordMetadata, dataclasses.astuple(self) + (self.delay_id, self.due_at))

    def __repr__(self) -> str:
        return (f"DelayedRecordMetadata(topic={self.topic!r}, partition={self.partition}, "
                f"delay_id={self.delay_id!r}, due_at={self.due_at})")


class RecordMetadataList(LazyList[RecordMetadata]):
    """The results of a batch produce, in record order, each built when it is read
    (:mod:`flymq.lazy_list`): a caller that ignores them does not pay for a thousand objects."""

    __slots__ = ("_topic", "_timestamp", "_placed", "_key_sizes", "_value_sizes")

    @classmethod
    def of_batch(cls, topic: str, timestamp: int, placed: Sequence[tuple[int, int]],
                 records: Sequence[tuple[Any, Any, int]]) -> "RecordMetadataList":
        """Results for ``records`` (``(key, value, partition)``) appended at ``placed``
        (``(partition, offset)`` each); sizes are taken now, the objects built later."""
        self = cls()
        self._topic, self._timestamp, self._placed = topic, timestamp, placed
        self._value_sizes = list(map(len, map(itemgetter(1), records)))
        keys = list(map(itemgetter(0), records))
        self._key_sizes = ([-1] * len(keys) if keys.count(None) == len(keys)
                           else [len(k) if k else -1 for k in keys])
        self._items = None
        return self

    def _lazy_len(self) -> int:
        return len(self._placed)

    def _lazy_iter(self) -> Iterator[RecordMetadata]:
        return map(self._lazy_item, range(len(self._placed)))

    def _lazy_item(self, i: int) -> RecordMetadata:
        partition, offset = self._placed[i]
        return RecordMetadata(self._topic, partition, offset, self._timestamp,
                              self._key_sizes[i], self._value_sizes[i])

    def _lazy_drop(self) -> None:
        self._placed = self._key_sizes = self._value_sizes = ()


class ConsumedMessage(tuple):
    """One record as a consumer sees it; immutable, like upstream's frozen dataclass.

    ``msg == b"..."`` compares the value (upstream integration tests rely on it); comparing
    two messages compares their fields. ``timestamp`` and ``headers`` are filled when the
    transport carries them (embedded, and flymq's extended fetch over TCP).

    It is a tuple so that readers can build thousands of messages per call in C
    (``map(tuple.__new__, repeat(ConsumedMessage), zip(...))``). The timestamp may be kept as
    milliseconds since the epoch (what logs and the wire carry) and becomes a ``datetime``
    on access; headers may be kept as None and read as ``{}``.
    """

    __slots__ = ()

    def __new__(cls, topic: str, partition: int, offset: int, data: bytes,
                key: bytes | None = None, timestamp: datetime | int | None = None,
                headers: dict[str, str] | None = None, retry_count: int = 0,
                _deserializer: Any = None) -> "ConsumedMessage":
        return tuple.__new__(cls, (topic, partition, offset, data, key, timestamp, headers,
                                   retry_count, _deserializer))

    topic = property(itemgetter(0))
    partition = property(itemgetter(1))
    offset = property(itemgetter(2))
    data = property(itemgetter(3))
    value = data
    key = property(itemgetter(4))
    retry_count = property(itemgetter(7))
    _deserializer = property(itemgetter(8))

    @property
    def timestamp(self) -> datetime | None:
        ts = self[5]
        return datetime.fromtimestamp(ts / 1000.0) if ts.__class__ is int else ts

    @property
    def timestamp_ms(self) -> int | None:
        """The record time in ms since the epoch (what the wire carries)."""
        ts = self[5]
        return round(ts.timestamp() * 1000) if isinstance(ts, datetime) else ts

    @property
    def headers(self) -> dict[str, str]:
        headers = self[6]
        return {} if headers is None else headers

    def with_retry_count(self, retry_count: int) -> "ConsumedMessage":
        """This message as handed out again after ``retry_count`` failed attempts."""
        if retry_count == self[7]:
            return self
        return tuple.__new__(type(self), self[:7] + (retry_count,) + self[8:])

    def with_deserializer(self, deserializer: Any) -> "ConsumedMessage":
        """This message decoding through ``deserializer`` (the client attaches its own)."""
        return tuple.__new__(type(self), self[:8] + (deserializer,))

    def __getnewargs__(self) -> tuple:
        return tuple(self)

    def _fields(self) -> tuple:
        return (self.topic, self.partition, self.offset, self.data, self.key, self.timestamp,
                self.headers)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (bytes, bytearray, memoryview)):
            return self[3] == bytes(other)
        if isinstance(other, ConsumedMessage):
            return self._fields() == other._fields()
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self[:5])

    def __repr__(self) -> str:
        return (f"ConsumedMessage(topic={self.topic!r}, partition={self.partition}, "
                f"offset={self.offset}, data={self.data!r}, key={self.key!r}, "
                f"timestamp={self.timestamp!r}, headers={self.headers!r})")

    def decode(self, encoding: str | None = None) -> Any:
        """The value as text; with a configured deserializer and no argument, the object."""
        if encoding is None and self._deserializer is not None:
            return self._deserializer.deserialize(self.topic, self.data)
        return self.data.decode(encoding or "utf-8")

    def decode_key(self, encoding: str = "utf-8") -> str | None:
        return None if self.key is None else self.key.decode(encoding)

    def json_data(self) -> Any:
        return json.loads(self.data)

    def deserialize(self) -> Any:
        """The value through the client's deserializer (bytes when none is set)."""
        if self._deserializer is None:
            return self.data
        return self._deserializer.deserialize(self.topic, self.data)


@dataclass
class FetchResult:
    """Records read by one fetch, and where the next fetch should start.

    A fetch gives ``messages`` as a :class:`~flymq.message_list.MessageList`, which reads
    like a list and builds each message as it is read.
    """

    messages: MessageList | list[ConsumedMessage]
    next_offset: int

    def __iter__(self):
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)


@dataclass
class TopicMetadata:
    name: str
    partitions: int
    replication_factor: int = 1
    config: dict[str, Any] = field(default_factory=dict)


# --- enums (§10.5) ----------------------------------------------------------------------------

class AckMode(str, enum.Enum):
    NONE = "none"
    LEADER = "leader"
    ALL = "all"


class SchemaType(str, enum.Enum):
    JSON = "json"
    AVRO = "avro"
    PROTOBUF = "protobuf"


class Compatibility(str, enum.Enum):
    NONE = "none"
    BACKWARD = "backward"
    FORWARD = "forward"
    FULL = "full"
    BACKWARD_TRANSITIVE = "backward_transitive"   # [ext] against every version, not the last
    FORWARD_TRANSITIVE = "forward_transitive"
    FULL_TRANSITIVE = "full_transitive"


class TransactionState(str, enum.Enum):
    ACTIVE = "active"
    PREPARING = "preparing"
    COMMITTED = "committed"
    ABORTED = "aborted"


class AuditEventType(str, enum.Enum):
    AUTH_SUCCESS = "auth.success"
    AUTH_FAILURE = "auth.failure"
    AUTH_LOGOUT = "auth.logout"
    ACCESS_GRANTED = "access.granted"
    ACCESS_DENIED = "access.denied"
    TOPIC_CREATE = "topic.create"
    TOPIC_DELETE = "topic.delete"
    TOPIC_MODIFY = "topic.modify"
    USER_CREATE = "user.create"
    USER_DELETE = "user.delete"
    USER_MODIFY = "user.modify"
    ACL_CHANGE = "acl.change"
    CONFIG_CHANGE = "config.change"
    CLUSTER_JOIN = "cluster.join"
    CLUSTER_LEAVE = "cluster.leave"


# --- results (§10.4, §10.6) -----------------------------------------------------------------

def _now() -> datetime:
    return datetime.now()


@dataclass
class ProduceResult:
    """What ``Producer``/``AsyncProducer`` report per record; ``offset`` is a plain int."""

    topic: str
    offset: int
    partition: int = 0
    timestamp: datetime = field(default_factory=_now)


@dataclass
class DLQMessage:
    id: str
    topic: str
    data: bytes
    error: str
    retries: int
    timestamp: datetime = field(default_factory=_now)
    original_offset: int | None = None
    # [ext] what a flymq broker also reports (docs/dead-letters.md)
    offset: int | None = None
    """Position of the entry in the dead-letter topic (``re_inject_dlq`` takes it)."""
    original_partition: int | None = None
    key: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""


@dataclass
class AuthResponse:
    success: bool
    error: str | None = None
    username: str | None = None
    roles: list[str] = field(default_factory=list)
    permissions: list[str] = field(default_factory=list)


@dataclass
class WhoAmIResponse:
    authenticated: bool
    username: str | None = None
    roles: list[str] = field(default_factory=list)
    permissions: list[str] = field(default_factory=list)


@dataclass
class Response:
    success: bool
    data: Any = None
    error: str | None = None


@dataclass
class PartitionInfo:
    """One partition's leadership; carries both upstream field sets (``leader`` = ``leader_id``)."""

    partition: int
    leader_id: str = ""
    leader_addr: str = ""
    epoch: int = 0
    state: str = "online"
    replicas: list[str] = field(default_factory=list)
    isr: list[str] = field(default_factory=list)

    @property
    def leader(self) -> str:
        return self.leader_id

    @property
    def in_sync_replicas(self) -> list[str]:
        return self.isr


@dataclass
class TopicPartitionInfo:
    topic: str
    partitions: list[PartitionInfo] = field(default_factory=list)


@dataclass
class ClusterMetadata:
    cluster_id: str
    topics: list[TopicPartitionInfo] = field(default_factory=list)

    def get_topic_partitions(self, topic: str) -> list[PartitionInfo]:
        return next((t.partitions for t in self.topics if t.topic == topic), [])

    def get_partition_leader(self, topic: str, partition: int) -> PartitionInfo | None:
        return next((p for p in self.get_topic_partitions(topic) if p.partition == partition),
                    None)


@dataclass
class ConsumerGroupInfo:
    group_id: str
    state: str
    members: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


@dataclass
class ConsumerGroupOffset:
    topic: str
    partition: int
    offset: int
    lag: int = 0


@dataclass
class ConsumerLag:
    topic: str
    partition: int
    current_offset: int
    committed_offset: int
    latest_offset: int
    lag: int


@dataclass
class SchemaInfo:
    id: str
    name: str
    type: SchemaType
    version: int
    definition: str
    compatibility: Compatibility = Compatibility.BACKWARD
    created_at: datetime | None = None


@dataclass
class NodeInfo:
    id: str
    address: str
    cluster_addr: str
    state: str
    raft_state: str
    is_leader: bool
    uptime: str
    memory_used_mb: float = 0.0
    goroutines: int = 0


@dataclass
class ClusterInfo:
    cluster_id: str
    leader_id: str
    raft_term: int
    raft_commit_index: int
    node_count: int
    topic_count: int
    total_messages: int
    nodes: list[NodeInfo] = field(default_factory=list)


@dataclass
class TransactionInfo:
    txn_id: str
    state: TransactionState
    created_at: datetime
    timeout_ms: int = 30000


@dataclass
class AuditEvent:
    id: str
    timestamp: datetime
    type: str
    user: str
    client_ip: str
    resource: str
    action: str
    result: str
    details: dict[str, str] = field(default_factory=dict)
    node_id: str = ""


@dataclass
class AuditQueryFilter:
    start_time: datetime | None = None
    end_time: datetime | None = None
    event_types: list[str] = field(default_factory=list)
    user: str = ""
    resource: str = ""
    result: str = ""
    search: str = ""
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 10000:
            raise ValueError("limit must be between 1 and 10000")


@dataclass
class AuditQueryResult:
    events: list[AuditEvent]
    total_count: int
    has_more: bool


class JoinResult(NamedTuple):
    """[ext] The answer to joining a consumer group (``FlyMQClient.join_group``)."""

    member_id: str
    generation: int
    """The generation the member belongs to; −1 while the rebalance it joined still waits for
    other members (join again shortly)."""
    protocol: str
    """The assignment strategy the group uses (``range``, ``roundrobin``, ``sticky``)."""
    leader: str
    state: str
    """``Stable``, ``PreparingRebalance`` or ``Empty``."""
