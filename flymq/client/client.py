"""``FlyMQClient``: the pyflymq-compatible client, over TCP or straight into an embedded broker.

The client turns user-friendly arguments (``str`` values, ``RecordMetadata`` offsets, enum
modes, serializers) into the plain calls of :class:`~flymq.client.transport.Transport` and
keeps no broker state of its own, so both transports behave the same.

Choosing a transport: ``FlyMQClient(broker=b)`` or a bootstrap entry ``"embedded://NAME"``
(a ``Broker(name=NAME)`` in this process) talk to the broker directly; ``"memory://"`` starts
a private broker in a temporary directory that lives as long as the client
(``"memory://NAME"`` shares the one registered as NAME, starting it if needed); anything else
is a ``host:port`` list for :class:`~flymq.client.tcp.TcpTransport`. :data:`ADDRESS_REDIRECTS`
maps an address to another address or to a ``Broker`` before that choice is made, so code
with a hard-coded ``"localhost:9092"`` can be pointed at a test broker
(see :func:`flymq.testing.redirect`). ``transport=`` takes any other
:class:`~flymq.client.transport.Transport`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from flymq.checks import I32_MAX, I64_MAX, check_int, check_partition, check_str
from flymq.client.config import ClientConfig, ConsumerConfig, TLSConfig
from flymq.client.consumer import HighLevelConsumer
from flymq.client.transaction import Transaction
from flymq.client.transport import Transport
from flymq.errors import (
    AuthenticationError, ConnectionClosedError, MessageTooLargeError,
    NoAvailableServerError, TopicAlreadyExistsError, TransactionError,
    UnsupportedOperationError,
)
from flymq.models import (
    AuthResponse, ClusterMetadata, ConsumedMessage, DLQMessage, FetchResult, JoinResult,
    RecordMetadata, WhoAmIResponse,
)
from flymq.models import Compatibility, SchemaInfo
from flymq.serde import (BytesDeserializer, BytesSerializer, Deserializer, SerdeRegistry,
                         Serializer, schema_serdes)
from flymq.group_ids import validate_group_id
from flymq.topic_config import TopicConfig
from flymq.txn_ids import new_client_txn_id
from flymq.topic_names import validate_topic_name
from flymq.wire_limits import MAX_FRAME_PAYLOAD, PRODUCE_OVERHEAD

if TYPE_CHECKING:
    from flymq.broker import Broker
    from flymq.client.producer import HighLevelProducer
    from flymq.clock import Clock

__all__ = ["FlyMQClient", "connect", "ADDRESS_REDIRECTS"]

EMBEDDED_SCHEME = "embedded://"
MEMORY_SCHEME = "memory://"

#: ``"host:port"`` -> another address or a ``Broker``; consulted by every new client.
ADDRESS_REDIRECTS: dict[str, "str | Broker"] = {}

_UNSET: Any = object()  # "argument not passed", where None is a meaningful value
_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(ClientConfig))


def _as_bytes(data: bytes | bytearray | memoryview | str | None, what: str = "key"
              ) -> bytes | None:
    """``data`` as bytes (str as UTF-8); anything else is a TypeError, never ``bytes(data)``,
    which would turn an int into that many zero bytes."""
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes, str or None, not {type(data).__name__}")


def _open_transport(servers: list[str], config: ClientConfig, broker: "Broker | None"
                    ) -> tuple[Transport, "Broker | None"]:
    """The transport for these servers, and the broker it started (the client closes it).

    The embedded transport, and so the broker, load only when an address names one: a
    TCP-only program never loads the storage engine.
    """
    owned = None
    if broker is None:
        targets = [ADDRESS_REDIRECTS.get(s, s) for s in servers]
        broker, owned = _embedded_broker(servers, targets)
        if broker is None:
            from flymq.client.tcp import TcpTransport

            return TcpTransport(targets, config), None
    from flymq.client.local import LocalTransport

    return LocalTransport(broker), owned


def _embedded_broker(servers: list[str], targets: list["str | Broker"]
                     ) -> tuple["Broker | None", "Broker | None"]:
    """The in-process broker of the first target that names one (None when none does), and
    that broker again when the client shares in closing it."""
    for target in targets:
        if not isinstance(target, str):
            return target, None
        if target.startswith((EMBEDDED_SCHEME, MEMORY_SCHEME)):
            from flymq.broker import Broker

            name = target.split("://", 1)[1]
            if target.startswith(MEMORY_SCHEME):
                broker, shared = _attach_memory_broker(name)
                return broker, broker if shared else None
            try:
                return Broker.lookup(name), None
            except KeyError:
                raise NoAvailableServerError(
                    servers, hint="Create the broker with Broker(name=...) first.") from None
    return None, None


#: Brokers started by ``memory://NAME`` clients, with how many such clients are open: the last
#: one to close closes the broker, so one client's close() never pulls it from the others.
_MEMORY_BROKERS: dict["Broker", int] = {}
_MEMORY_LOCK = threading.Lock()


def _attach_memory_broker(name: str) -> tuple["Broker", bool]:
    """The broker of ``memory://name``, started if there is none (in a temporary directory,
    removed on close), and whether this client shares in closing it (then it must
    :func:`_detach_memory_broker` it); a broker the application started itself is never
    closed by a client."""
    from flymq.broker import Broker

    with _MEMORY_LOCK:
        try:
            broker = Broker.lookup(name)
        except KeyError:
            broker = Broker(name=name or None)
        else:
            if broker not in _MEMORY_BROKERS:
                return broker, False
        _MEMORY_BROKERS[broker] = _MEMORY_BROKERS.get(broker, 0) + 1
        return broker, True


def _detach_memory_broker(broker: "Broker") -> None:
    with _MEMORY_LOCK:
        users = _MEMORY_BROKERS.pop(broker) - 1
        if users:
            _MEMORY_BROKERS[broker] = users
            return
    broker.close()


class FlyMQClient:
    """A connection to a FlyMQ broker with the full pyflymq API (client-api.md §3)."""

    def __init__(self, bootstrap_servers: str | list[str] = _UNSET, port: int | None = None, *,
                 config: ClientConfig | None = None, tls: TLSConfig | None = None,
                 broker: "Broker | None" = None, transport: Transport | None = None,
                 **kwargs: Any):
        if config is None:
            config = ClientConfig(**kwargs)  # unknown keywords -> TypeError
        else:  # upstream ignores unknown keywords when a config is given
            config = config.replace(**{k: v for k, v in kwargs.items() if k in _CONFIG_FIELDS})
        if bootstrap_servers is not _UNSET:
            config.bootstrap_servers = (f"{bootstrap_servers}:{port}" if port is not None
                                        else bootstrap_servers)
        if tls is not None:
            config.apply_tls(tls)
        if config.encryption_enabled or config.encryption_key:
            raise UnsupportedOperationError(
                "encryption is not supported yet by this flymq client")
        self.config = config
        self._closed = False
        self._auth_user: str | None = None
        self._serializer: Serializer | None = config.value_serializer
        self._deserializer: Deserializer | None = config.value_deserializer
        self._serde_schema: tuple[str, int] | None = None  # (name, version) of set_serde(schema=)
        self._owned_broker: "Broker | None" = None
        if transport is None:
            transport, self._owned_broker = _open_transport(config.get_servers(), config, broker)
        self._conn = transport
        if config.username:
            try:
                self.authenticate(config.username, config.password or "")
            except BaseException:
                self.close()
                raise

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def _transport(self) -> Transport:
        if self._closed:
            raise ConnectionClosedError("Client is closed",
                                        hint="Create a new client; this one was closed.")
        return self._conn

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def clock(self) -> "Clock":
        """[ext] The clock consumers of this client time retries and heartbeats on by default:
        an embedded broker's own (a test's ManualClock), else the system's."""
        return self._conn.clock

    def close(self) -> None:
        """Close the connection, and a ``memory://`` broker once no client of it is left
        open (never a broker the application started); idempotent."""
        if not self._closed:
            self._closed = True
            self._conn.close()
            if self._owned_broker is not None:
                _detach_memory_broker(self._owned_broker)

    def __enter__(self) -> "FlyMQClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def supports(self, feature: str) -> bool:
        """Whether the connected broker serves ``feature`` (one of ``flymq.features.KNOWN``)."""
        return self._transport.supports(feature)

    # --- auth -----------------------------------------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        return self._auth_user is not None

    @property
    def username(self) -> str | None:
        return self._auth_user

    def authenticate(self, username: str, password: str) -> AuthResponse:
        response = self._transport.authenticate(username, password)
        if not response.success:
            raise AuthenticationError(response.error or "Authentication failed")
        self._auth_user = response.username or username
        return response

    def whoami(self) -> WhoAmIResponse:
        return self._transport.whoami()

    # --- produce --------------------------------------------------------------------------
    def _value(self, topic: str, data: Any) -> bytes:
        if isinstance(data, (bytes, bytearray, memoryview, str)):
            return _as_bytes(data, "data")
        if self._serializer is not None:
            return _as_bytes(self._serializer.serialize(topic, data), "serialized data")
        raise TypeError(f"data must be bytes or str, not {type(data).__name__} "
                        "(or install a serializer with set_serde())")

    def produce(self, topic: str, data: Any, *, key: bytes | str | None = None,
                partition: int | None = None, compression_type: str = "none",
                headers: dict[str, str] | None = None) -> RecordMetadata:
        """Append one record; ``partition`` wins over ``key``; neither = broker's choice.

        ``headers`` [ext]: record headers (over TCP they need a flymq server)."""
        if topic.__class__ is not str:  # the error an embedded broker gives (not a TypeError)
            validate_topic_name(topic)
        key_bytes = key if key is None or key.__class__ is bytes else _as_bytes(key)
        value = self._checked_value(topic, data, key_bytes)
        partition = -1 if partition is None else check_partition(partition, produce=True)
        if headers:  # the plain call stays the short one (the most frequent request)
            return self._transport.produce(topic, value, key_bytes, partition, headers=headers,
                                           compression_type=compression_type)
        return self._transport.produce(topic, value, key_bytes, partition,
                                       compression_type=compression_type)

    def produce_with_key(self, topic: str, key: bytes | str, data: Any) -> RecordMetadata:
        return self.produce(topic, data, key=key)

    def produce_to_partition(self, topic: str, partition: int, data: Any, *,
                             key: bytes | str | None = None) -> RecordMetadata:
        return self.produce(topic, data, key=key, partition=partition)

    def produce_object(self, topic: str, value: Any,
                       serializer: Serializer | None = None) -> RecordMetadata:
        """Serialize ``value`` and append it; after ``set_serde(..., schema=name)`` the broker
        validates it against that schema (``produce_with_schema``)."""
        chosen = serializer or self._serializer or BytesSerializer()
        data = chosen.serialize(topic, value)
        if self._serde_schema is not None and chosen is self._serializer:
            name, version = self._serde_schema
            return self.produce_with_schema(topic, data, name, version=version)
        return self.produce(topic, data)

    def _checked_value(self, topic: str, data: Any, key: bytes | None = None) -> bytes:
        """The value as bytes, refused before sending if the request would pass 32 MiB."""
        value = data if data.__class__ is bytes else self._value(topic, data)
        size = PRODUCE_OVERHEAD + 4 * len(topic) + len(key or b"") + len(value)
        if size > MAX_FRAME_PAYLOAD:  # may be: 4 bytes per character is UTF-8's most
            size += len(topic.encode()) - 4 * len(topic)
            if size > MAX_FRAME_PAYLOAD:
                raise MessageTooLargeError(size)
        return value

    def produce_delayed(self, topic: str, data: Any, delay_ms: int, *,
                        key: bytes | str | None = None, partition: int | None = None,
                        headers: dict[str, str] | None = None) -> RecordMetadata:
        """Deliver a record to ``topic`` ``delay_ms`` from now, exactly once, as a produce at
        that moment would (``key``, ``partition``, ``headers`` [ext]). From a flymq broker the
        result is a ``DelayedRecordMetadata``: ``delay_id`` cancels it (docs/delayed-ttl.md)."""
        delay_ms = check_int("delay_ms", delay_ms, -I64_MAX - 1)
        key_bytes = _as_bytes(key)
        value = self._checked_value(topic, data, key_bytes)
        if key_bytes or headers or partition is not None:
            return self._transport.produce_delayed(
                topic, value, delay_ms, key=key_bytes or None, headers=headers or None,
                partition=-1 if partition is None else check_partition(partition, produce=True))
        return self._transport.produce_delayed(topic, value, delay_ms)

    def cancel_delayed(self, delay_id: str) -> None:
        """[ext] Make sure a pending delayed message is never delivered;
        ``DelayedMessageNotFoundError`` once it was delivered or cancelled."""
        self._transport.cancel_delayed(str(delay_id))

    def list_delayed(self, topic: str, limit: int = 1000) -> list[dict[str, Any]]:
        """[ext] Pending delayed messages of ``topic`` in due order: ``{"id", "topic",
        "due_at"}`` (due time in ms since the epoch)."""
        return self._transport.list_delayed(topic, check_int("limit", limit, 0, I32_MAX))[1]

    def count_delayed(self, topic: str) -> int:
        """[ext] How many delayed messages of ``topic`` are pending."""
        return self._transport.list_delayed(topic, 0)[0]

    def produce_with_ttl(self, topic: str, data: Any, ttl_ms: int) -> RecordMetadata:
        """Append a record that is no longer delivered ``ttl_ms`` after now (on any read
        path of a flymq broker; an upstream server keeps delivering it)."""
        ttl_ms = check_int("ttl_ms", ttl_ms, -I64_MAX - 1)
        return self._transport.produce_with_ttl(topic, self._checked_value(topic, data), ttl_ms)


    def produce_with_schema(self, topic: str, data: Any, schema_name: str, *,
                            version: int = 0) -> RecordMetadata:
        """Append only if the broker validates ``data`` against ``schema_name``: its latest
        version, or ``version`` [ext]. Invalid data raises SchemaValidationError."""
        if version.__class__ is not int or version:  # the common call (latest) skips the check
            version = check_int("version", version, 0, 2**32 - 1)
        return self._transport.produce_with_schema(
            topic, self._checked_value(topic, data), check_str("schema name", schema_name),
            version=version)

    # --- read -----------------------------------------------------------------------------
    def _attach(self, message: ConsumedMessage) -> ConsumedMessage:
        if self._deserializer is not None:
            return message.with_deserializer(self._deserializer)
        return message

    def consume(self, topic: str, offset: int, partition: int = _UNSET) -> ConsumedMessage:
        """The record at ``offset``; a ``RecordMetadata`` offset also names its partition."""
        if partition is _UNSET:
            partition = offset.partition if isinstance(offset, RecordMetadata) else 0
        return self._attach(self._transport.consume(
            topic, check_partition(partition), check_int("offset", offset)))

    def consume_object(self, topic: str, offset: int,
                       deserializer: Deserializer | None = None) -> Any:
        message = self.consume(topic, offset)
        deserializer = deserializer or self._deserializer or BytesDeserializer()
        return deserializer.deserialize(topic, message.data)

    def fetch(self, topic: str, partition: int = 0, offset: int = 0, max_messages: int = 10,
              filter: str = "", *, max_wait_ms: int = 0) -> FetchResult:
        """Up to ``max_messages`` records from ``offset``; empty at the end of the log.

        ``max_wait_ms`` [ext] waits that long for a first record when there is none yet.
        """
        max_messages = check_int("max messages", max_messages, -I32_MAX, I32_MAX)
        result = self._transport.fetch(
            topic, check_partition(partition), check_int("offset", offset),
            max_messages if max_messages > 0 else 10, check_str("filter", filter or ""),
            max_wait_ms=check_int("max wait ms", max_wait_ms, 0, I32_MAX))
        if self._deserializer is not None:
            result.messages = result.messages.with_deserializer(self._deserializer)
        return result

    def partition_offsets(self, topic: str, partition: int = 0) -> tuple[int, int]:
        """[ext] ``(first retained offset, next offset to be written)`` of a partition."""
        return self._transport.offsets(topic, check_partition(partition))

    def offset_for_timestamp(self, topic: str, partition: int, timestamp: int | datetime) -> int:
        """[ext] The first offset whose record time is at or after ``timestamp`` (a datetime or
        ms since the epoch); the end offset when every record is older. Needs a flymq server."""
        if isinstance(timestamp, datetime):
            timestamp = int(timestamp.timestamp() * 1000)
        return self._transport.offset_for_timestamp(
            topic, check_partition(partition),
            check_int("timestamp", timestamp, -I64_MAX - 1))

    # --- topics ---------------------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int = 1, *,
                     config: "TopicConfig | dict[str, Any] | None" = None,
                     exist_ok: bool = True) -> None:
        """Create ``topic``; creating an existing topic succeeds and changes nothing, not
        even a different partition count (upstream behaviour).

        ``config`` [ext] sets per-topic overrides (compression, retention, fsync, segment
        sizes) as a ``TopicConfig`` or a dict of its fields; ``exist_ok=False`` [ext] raises
        TopicAlreadyExistsError for an existing topic. Over TCP both need a flymq server
        (CREATE_TOPIC_EX, whose reply says whether the topic was created).
        """
        if config is not None and not hasattr(config, "to_dict"):
            config = TopicConfig.from_dict(dict(config))  # unknown keys -> ValueError
        if not exist_ok and config is None:
            config = TopicConfig()  # no overrides, but the request that answers "created"
        created = self._transport.create_topic(
            topic, check_int("partition count", partitions, 0, I32_MAX) or 1, config=config)
        if not exist_ok and not created:
            raise TopicAlreadyExistsError(topic)

    def delete_topic(self, topic: str) -> None:
        self._transport.delete_topic(topic)

    def list_topics(self) -> list[str]:
        return self._transport.list_topics()

    def describe_topic(self, topic: str) -> dict[str, Any]:
        """[ext] ``{"name", "partitions": [{"partition", "start_offset", "end_offset",
        "size_bytes"}], "config"}``: offsets, stored bytes and the topic's config overrides.
        An upstream server tells offsets only (``size_bytes`` and ``config`` are None);
        TopicNotFoundError if there is no such topic."""
        return self._transport.describe_topic(topic)

    # --- consumer groups ------------------------------------------------------------------
    def subscribe(self, topic: str, group_id: str, partition: int = 0,
                  mode: str = "latest") -> int:
        """Join ``group_id`` on a partition; the offset to start from per ``mode``."""
        return self._transport.subscribe(topic, validate_group_id(group_id, allow_empty=True),
                                         partition, str(mode))

    def commit_offset(self, topic: str, group_id: str, partition: int, offset: int) -> None:
        self._transport.commit_offset(topic, validate_group_id(group_id),
                                      check_partition(partition),
                                      check_int("offset", offset))

    def get_committed_offset(self, topic: str, group_id: str, partition: int = 0) -> int:
        return self._transport.get_committed_offset(topic, validate_group_id(group_id), partition)

    def reset_offset(self, topic: str, group_id: str, partition: int = 0,
                     mode: str = "earliest", offset: int | None = None) -> None:
        self._transport.reset_offset(topic, validate_group_id(group_id), partition, str(mode),
                                     offset)

    def reset_offset_to_earliest(self, topic: str, group_id: str, partition: int = 0) -> None:
        self.reset_offset(topic, group_id, partition, "earliest")

    def reset_offset_to_latest(self, topic: str, group_id: str, partition: int = 0) -> None:
        self.reset_offset(topic, group_id, partition, "latest")

    def get_lag(self, topic: str, group_id: str, partition: int = 0) -> dict[str, int]:
        return self._transport.get_lag(topic, validate_group_id(group_id), partition)

    def list_consumer_groups(self, topic: str = "") -> list[dict[str, Any]]:
        return self._transport.list_consumer_groups(topic)

    def describe_consumer_group(self, topic: str, group_id: str) -> dict[str, Any]:
        return self._transport.describe_consumer_group(topic, validate_group_id(group_id))

    def delete_consumer_group(self, topic: str, group_id: str) -> None:
        self._transport.delete_consumer_group(topic, validate_group_id(group_id))

    # --- [ext] group membership: what HighLevelConsumer builds on (docs/consumers.md) --------
    def join_group(self, group_id: str, member_id: str = "", *, topics: Sequence[str],
                   strategies: Sequence[str] = ("range",), session_timeout_ms: int = 30_000,
                   rebalance_timeout_ms: int = 300_000) -> JoinResult:
        """[ext] Join ``group_id`` as a new member (``member_id`` "") or join again during a
        rebalance; ``topics`` are names and MQTT-style patterns. Generation −1: the rebalance
        waits for other members, join again shortly. The member belongs to this client's
        connection; closing the client is its clean leave. Needs the ``groups`` feature."""
        return self._transport.join_group(
            validate_group_id(group_id), check_str("member id", member_id),
            client_id=self.config.client_id, topics=list(topics), strategies=list(strategies),
            session_timeout_ms=check_int("session timeout", session_timeout_ms, 1, I32_MAX),
            rebalance_timeout_ms=check_int("rebalance timeout", rebalance_timeout_ms, 1,
                                           I32_MAX))

    def sync_group(self, group_id: str, member_id: str, generation: int) -> list[tuple[str, int]]:
        """[ext] The ``(topic, partition)`` pairs assigned to the member in ``generation``."""
        return self._transport.sync_group(validate_group_id(group_id), member_id, generation)

    def heartbeat(self, group_id: str, member_id: str, generation: int) -> None:
        """[ext] Keep the member's session alive; ``RebalanceInProgressError`` says: revoke
        (commit first) and join again."""
        self._transport.heartbeat(validate_group_id(group_id), member_id, generation)

    def leave_group(self, group_id: str, member_id: str) -> None:
        """[ext] Leave cleanly: the others rebalance at once instead of after a timeout."""
        self._transport.leave_group(validate_group_id(group_id), member_id)

    def commit_group_offsets(self, group_id: str, offsets: Sequence[tuple[str, int, int]], *,
                             member_id: str = "", generation: int = -1) -> None:
        """[ext] Commit ``(topic, partition, next offset)`` triples, all or none, as
        ``member_id`` of ``generation`` (refused for a stale generation, an unknown member or a
        partition the member does not own)."""
        self._transport.commit_group_offsets(validate_group_id(group_id),
                                             [tuple(o) for o in offsets],
                                             member_id=member_id, generation=generation)

    def fetch_group_offsets(self, group_id: str) -> dict[tuple[str, int], int]:
        """[ext] Every committed offset of the group, by ``(topic, partition)``."""
        return self._transport.fetch_group_offsets(validate_group_id(group_id))

    def list_groups(self) -> list[str]:
        """[ext] The ids of every group (a group spans topics)."""
        return self._transport.list_groups()

    def describe_group(self, group_id: str) -> dict[str, Any]:
        """[ext] State, generation, protocol, members (client id, host, assignment) and the
        committed offsets with their lag, of the whole group."""
        return self._transport.describe_group(validate_group_id(group_id))

    def delete_group(self, group_id: str) -> None:
        """[ext] Every committed offset of the group; refused while it has members."""
        self._transport.delete_group(validate_group_id(group_id))

    # --- transactions ---------------------------------------------------------------------
    def begin_transaction(self) -> Transaction:
        if self._transport.picks_txn_ids:  # begun with its first records: no round trip
            return Transaction(self, new_client_txn_id(), begun=False)
        txn_id = self._transport.begin_transaction()
        if not txn_id:
            raise TransactionError("Failed to begin transaction")
        return Transaction(self, txn_id)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Commit on normal exit (unless the body finished it), roll back on an exception."""
        txn = self.begin_transaction()
        try:
            yield txn
        except BaseException:
            if txn.active:
                txn.rollback()
            raise
        if txn.active:
            txn.commit()

    # --- schemas --------------------------------------------------------------------------
    def register_schema(self, name: str, schema_type: str, schema: str | bytes | dict) -> int:
        """``schema_type`` is json/avro/protobuf; a ``dict`` (or ``list``: an Avro union)
        schema is JSON-encoded. Returns the version [ext]: a new one, or the existing version
        whose definition is the same once normalised."""
        text = json.dumps(schema) if isinstance(schema, (dict, list)) else schema
        return self._transport.register_schema(check_str("schema name", name),
                                               str(getattr(schema_type, "value", schema_type)),
                                               _as_bytes(text, "schema"))

    def describe_schema(self, name: str, version: int = 0) -> SchemaInfo:
        """[ext] A version (0 = latest) with its definition and compatibility mode."""
        return self._transport.describe_schema(name, check_int("version", version, 0, 2**32 - 1))

    def get_schema_compatibility(self, name: str = "") -> str:
        """[ext] The compatibility mode of ``name`` (the global default for ``""``)."""
        return self._transport.get_schema_compatibility(name)

    def set_schema_compatibility(self, mode: str | Compatibility, name: str = "") -> str:
        """[ext] Set the mode of ``name``, or the global default (``""``): none, backward,
        forward, full or a ``*_transitive`` form. Durable; returns the mode set."""
        return self._transport.set_schema_compatibility(str(getattr(mode, "value", mode)), name)

    def get_schema(self, topic: str, version: int = 0) -> dict[str, Any]:
        return self._transport.get_schema(topic, version)

    def list_schemas(self, topic: str = "") -> list[dict[str, Any]]:
        return self._transport.list_schemas(topic)

    def validate_schema(self, name: str, message: bytes | str) -> bool:
        return self._transport.validate_schema(name, _as_bytes(message, "message"))

    def delete_schema(self, topic: str, version: int) -> None:
        self._transport.delete_schema(topic, version)

    # --- dead-letter queues ---------------------------------------------------------------
    def fetch_dlq(self, topic: str, max_messages: int = 10, *, offset: int = 0
                  ) -> list[DLQMessage]:
        """Entries of ``topic``'s dead-letter queue from DLQ position ``offset`` [ext] (each
        message's ``offset`` says where it is; fetch on from the last one + 1)."""
        max_messages = check_int("max_messages", max_messages, -I32_MAX - 1, I32_MAX)
        if offset:
            return self._transport.fetch_dlq(topic, max_messages, check_int("offset", offset))
        return self._transport.fetch_dlq(topic, max_messages)

    def dead_letter(self, topic: str, partition: int, offset: int, *,
                    reason: str = "manual", error: str = "", retry_count: int = 0,
                    first_failed_at: int | None = None) -> str:
        """[ext] Copy the stored record at (topic, partition, offset) into ``topic``'s
        dead-letter queue with why it failed; returns the entry id."""
        return self._transport.dead_letter(
            topic, check_partition(partition), check_int("offset", offset), reason=reason,
            error=error, retry_count=check_int("retry_count", retry_count, 0, I32_MAX),
            first_failed_at=first_failed_at)


    def replay_dlq(self, topic: str, message_id: str) -> None:
        self._transport.replay_dlq(topic, message_id)

    def re_inject_dlq(self, topic: str, offset: int) -> bool:
        return self._transport.re_inject_dlq(topic, check_int("offset", offset))

    def purge_dlq(self, topic: str) -> None:
        self._transport.purge_dlq(topic)

    # --- serde ----------------------------------------------------------------------------
    def set_serde(self, name: str, *, schema: str | None = None, version: int = 0) -> None:
        """Install a registered pair as defaults; an unknown name changes nothing.

        With ``schema`` [ext] (a registered ``json`` or ``avro`` schema, ``name`` its type),
        values are written as that schema says (Avro: binary with its definition, fetched
        once) and ``produce_object`` has the broker validate them against it.
        """
        if schema is not None:
            info = self.describe_schema(schema, version)
            if info.type.value != name:
                raise ValueError(f"schema {schema!r} is a {info.type.value} schema, not {name}")
            self._serializer, self._deserializer = schema_serdes(info.type.value,
                                                                 info.definition)
            self._serde_schema = (schema, version)
            return
        serializer, deserializer = SerdeRegistry.get(name)
        if serializer is not None or deserializer is not None:
            self._serializer, self._deserializer = serializer, deserializer
            self._serde_schema = None

    def set_serializer(self, serializer: Serializer) -> None:
        self._serializer = serializer

    def set_deserializer(self, deserializer: Deserializer) -> None:
        self._deserializer = deserializer

    # --- cluster --------------------------------------------------------------------------
    def get_cluster_metadata(self, topic: str = "") -> ClusterMetadata:
        return self._transport.cluster_metadata(topic)

    def cluster_join(self, peer_addr: str) -> None:
        self._transport.cluster_join(peer_addr)

    def cluster_leave(self) -> None:
        self._transport.cluster_leave()

    # --- [ext] what producers, consumers and transactions build on ------------------------
    # Public so that they, and an application's own, need nothing private of the client
    # (docs/architecture.md, "Surface used by producers and consumers").
    def partition_count(self, topic: str) -> int:
        """[ext] How many partitions ``topic`` has; TopicNotFoundError when it does not exist."""
        return self._transport.partition_count(topic)

    def init_producer_id(self) -> tuple[int, int] | None:
        """[ext] A new ``(producer_id, epoch)`` to number batches with (see
        :meth:`append_batch`), or None when the broker cannot deduplicate (an upstream
        server): its batches are then delivered at least once."""
        return self._transport.init_producer_id()

    def append_batch(self, topic: str, records: Sequence[tuple[bytes | None, bytes, int]], *,
                     producer: tuple[int, int, int] | None = None,
                     compression_type: str = "none") -> tuple[int, list[tuple[int, int]]]:
        """[ext] Append ``(key, value, partition)`` records in one request, all or none
        (partition -1: the broker's choice, as in :meth:`produce`).

        Returns ``(timestamp, [(partition, offset)])`` in record order, so that no result
        object is built per record. ``producer`` is ``(producer_id, epoch, base_sequence)``
        with an id from :meth:`init_producer_id`: every record must then name the same
        partition, and the broker appends the batch at most once however often it is sent.
        ``compression_type`` ``"gzip"`` compresses the request over TCP, ``"lz4"`` the stored
        batch (docs/producers.md).
        """
        return self._transport.append_batch(topic, records, producer=producer,
                                            compression_type=compression_type)

    def ready_partitions(self, positions: Sequence[tuple[str, int, int]]
                         ) -> list[tuple[str, int]] | None:
        """[ext] Of the ``(topic, partition, offset)`` positions, the ``(topic, partition)``
        pairs where a fetch would find something now (a record, or a position outside the
        log), in one request; None when the transport cannot tell (an upstream server). A
        consumer of many partitions fetches only those."""
        return self._transport.ready_partitions(positions)


    def wait_for_records(self, positions: Sequence[tuple[str, int, int]], timeout_s: float,
                         wake: threading.Event) -> list[tuple[str, int]] | None:
        """[ext] Wait, at most ``timeout_s``, until ``wake`` is set: by another thread, or,
        embedded and against a flymq server, by a record at or past one of the ``(topic,
        partition, offset)`` positions. An idle consumer waits here instead of fetching in a
        loop; wait in short steps and fetch after each, since a wait may also end early.
        Returns the ``(topic, partition)`` pairs seen to have records (fetch those first), or
        None when the transport cannot tell."""
        return self._transport.wait_for_records(positions, timeout_s, wake)

    def produce_transactional(self, txn_id: str, topic: str, data: Any) -> RecordMetadata:
        """[ext] Buffer a record in transaction ``txn_id`` until it commits."""
        return self._transport.produce_transactional(txn_id, topic,
                                                     self._checked_value(topic, data))

    def produce_transactional_batch(self, txn_id: str, records: Sequence[tuple[str, bytes]],
                                    *, commit: bool = False, begin: bool = False) -> None:
        """[ext] Add ``(topic, value)`` records to transaction ``txn_id``, all or none, then
        commit it if ``commit``; what :class:`Transaction` sends (one round trip over TCP
        where the server offers PRODUCE_TX_BATCH). ``begin``: begin it first, under an id
        this client picked (``flymq.txn_ids``; where the server offers that)."""
        self._transport.produce_transactional_batch(txn_id, records, commit, begin)

    def commit_transaction(self, txn_id: str) -> None:
        """[ext] Make every record of transaction ``txn_id`` visible at once."""
        self._transport.commit_transaction(txn_id)

    def abort_transaction(self, txn_id: str) -> None:
        """[ext] Discard every record of transaction ``txn_id``."""
        self._transport.abort_transaction(txn_id)

    def send_offsets_to_transaction(self, txn_id: str, group_id: str,
                                    offsets: Mapping[tuple[str, int], int]
                                    | Iterable[tuple[str, int, int]]) -> None:
        """[ext] Commit consumer offsets for ``group_id`` if and only if transaction
        ``txn_id`` commits (Kafka's ``send_offsets_to_transaction``): ``{(topic,
        partition): next offset}`` or ``(topic, partition, next offset)`` triples."""
        items = [(t, p, o) for (t, p), o in offsets.items()] if isinstance(offsets, Mapping) \
            else [tuple(entry) for entry in offsets]
        self._transport.send_offsets_to_transaction(txn_id, validate_group_id(group_id), items)

    # --- high-level factories -------------------------------------------------------------
    def producer(self, **kwargs: Any) -> "HighLevelProducer":
        """A batching producer; ``max_retries=`` is accepted as ``retries=``."""
        from flymq.client.producer import HighLevelProducer

        if "max_retries" in kwargs:
            kwargs["retries"] = kwargs.pop("max_retries")
        return HighLevelProducer(self, **kwargs)

    def consumer(self, topics: str | list[str], group_id: str, *,
                 auto_offset_reset: str = _UNSET, enable_auto_commit: bool = True,
                 auto_commit_interval_ms: int = 5000, max_poll_records: int = 500,
                 auto_commit: bool | None = None, filter: str | None = None,
                 session_timeout_ms: int = 30000, max_retries: int = 3,
                 retry_backoff_ms: int = 100, heartbeat_interval_ms: int = 3000,
                 max_poll_interval_ms: int = 300000,
                 partition_assignment_strategy: str | list[str] = "range",
                 on_assign: Any = None, on_revoke: Any = None,
                 on_lost: Any = None, clock: "Clock | None" = None) -> "HighLevelConsumer":
        """A member of ``group_id`` consuming ``topics`` (patterns allowed): the group's
        members share the partitions (docs/consumers.md).

        A group with no committed offset starts at the earliest record unless
        ``auto_offset_reset="latest"`` is passed explicitly (what upstream users observe).
        ``on_assign``/``on_revoke``/``on_lost`` [ext] take a list of ``(topic, partition)``;
        ``clock`` [ext] defaults to :attr:`clock` (a TCP test passes its ManualClock).
        """
        config = ConsumerConfig(
            group_id=validate_group_id(group_id),
            auto_offset_reset="earliest" if auto_offset_reset is _UNSET else auto_offset_reset,
            enable_auto_commit=enable_auto_commit if auto_commit is None else auto_commit,
            auto_commit_interval_ms=auto_commit_interval_ms, max_poll_records=max_poll_records,
            message_filter=filter, session_timeout_ms=session_timeout_ms,
            max_retries=max_retries, retry_backoff_ms=retry_backoff_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_interval_ms=max_poll_interval_ms,
            partition_assignment_strategy=partition_assignment_strategy)
        return HighLevelConsumer(self, topics, group_id, config, clock=clock,
                                 on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)


def connect(servers: str | list[str] = "localhost:9092", *, username: str | None = None,
            password: str | None = None, tls: TLSConfig | None = None,
            tls_enabled: bool = False, tls_ca_file: str | None = None,
            tls_cert_file: str | None = None, tls_key_file: str | None = None,
            tls_server_name: str | None = None, tls_insecure_skip_verify: bool = False,
            broker: "Broker | None" = None, **kwargs: Any) -> FlyMQClient:
    """A connected client; credentials and TLS may be given as flat keywords (§2)."""
    if tls is None and (tls_enabled or tls_ca_file or tls_cert_file):
        tls = TLSConfig(enabled=tls_enabled, cert_file=tls_cert_file, key_file=tls_key_file,
                        ca_file=tls_ca_file, server_name=tls_server_name,
                        insecure_skip_verify=tls_insecure_skip_verify)
    return FlyMQClient(servers, tls=tls, username=username, password=password, broker=broker,
                       **kwargs)
