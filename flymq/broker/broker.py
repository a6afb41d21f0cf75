"""The Broker facade: the one core API that both front doors (embedded client, TCP server) call.

Everything here is synchronous and thread-safe. Per-request work is kept to dictionary lookups
and the storage call, because the embedded client calls these methods directly and its
throughput is the broker's throughput.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from functools import partial
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

from flymq.broker.appends import (DURABLE, NOT_WAITING, WAITING, AppendRequest, AppendResult,
                                  Durability, RecordTuple, new_request)
from flymq.broker.config import BrokerConfig, TopicConfig
from flymq.broker.dir_lock import lock_directory
from flymq.broker.temp_dirs import make_temporary_dir
from flymq.broker.temp_dirs import remove as remove_temporary_dir
from flymq.broker.filter import compile_filter
from flymq.broker.groups import GroupCoordinator, OffsetCommit
from flymq.broker.membership import Limits
from flymq.broker.messages import encode_headers, to_messages
from flymq.broker.partition import SCAN_LIMIT, PartitionLeader
from flymq.broker.partitioner import choose_partition
from flymq.broker.producers import ProducerIds
from flymq.broker.schemas.facade import SchemaOperations
from flymq.broker.delivery_ops import DeliveryOperations
from flymq.broker.schemas.registry import SchemaRegistry
from flymq.broker.session import Session
from flymq.broker.storage import BatchRun, Flusher, LogConfig, Record
from flymq.broker.storage.checkpoint import FILE_NAME as CHECKPOINT_FILE
from flymq.broker.storage.files import raise_open_file_limit, storage_error, write_atomically
from flymq.broker.topics import Topic, TopicRegistry, log_config_for
from flymq.broker.transactions import TransactionCoordinator
from flymq.clock import SYSTEM_CLOCK, Clock
from flymq.features import SERVED, not_supported
from flymq.errors import (
    BrokerClosedError, ConsumerGroupNotFoundError, FlyMQError, InvalidRequestError,
    MessageTooLargeError, OffsetOutOfRangeError, PartitionNotFoundError, StorageError, TopicNotFoundError,
)
from flymq.matcher import resolve
from flymq.models import (FetchResult, JoinResult, RecordMetadata, RecordMetadataList,
                          TopicMetadata)
from flymq.timers import TimerService
from flymq.group_ids import validate_group_id
from flymq.keyhash import key_partition
from flymq.topic_names import validate_topic_name

if TYPE_CHECKING:
    from flymq.client import FlyMQClient
    from flymq.models import ConsumedMessage

DEFAULT_FETCH_MESSAGES = 10
SUBSCRIBE_MODES = ("earliest", "latest", "commit", "")
RESET_MODES = ("earliest", "latest", "offset")


def _version() -> str:
    import flymq
    return getattr(flymq, "__version__", "0.1.0")


_new_record = partial(tuple.__new__, Record)  # Record(...) without the keyword machinery
_new_result = partial(tuple.__new__, AppendResult)  # the same for an AppendResult
_partition_of = itemgetter(2)                 # of a (key, value, partition) record
_key_of = itemgetter(0)
_value_of = itemgetter(1)


def _plain_values(records: Sequence[tuple[bytes | None, bytes, int]]) -> list[bytes] | None:
    """The values of ``records`` if they are all ``(None, bytes, int)`` tuples (what producers
    send), so that checking them takes a few C-level passes instead of a Python loop per
    record; None otherwise."""
    if not (set(map(type, records)) == {tuple} and set(map(len, records)) == {3}
            and list(map(_key_of, records)).count(None) == len(records)):
        return None
    values = list(map(_value_of, records))
    if set(map(type, values)) == {bytes} and set(map(type, map(_partition_of, records))) == {int}:
        return values
    return None


def _stored(record: RecordTuple, now: int, expire_at: int | None) -> Record:
    """The storage record of one checked record tuple (see ``Broker._checked_records``), as a
    plain tuple in :class:`Record`'s field order (storage reads records by position; a
    tuple subclass costs more to make and free than the rest of a small append)."""
    key, value, _, headers, timestamp = record
    return value, key, now if timestamp is None else timestamp, headers, expire_at


def _new_records(records: Sequence[RecordTuple], now: int, expire_at: int | None) -> list[Record]:
    """Storage records of checked record tuples (plain tuples, as :func:`_stored`); built in
    C when none has its own timestamp or headers (the common keyed batch)."""
    if any(r[3] or r[4] is not None for r in records):
        return [_stored(r, now, expire_at) for r in records]
    n = len(records)
    return list(zip(map(_value_of, records), map(_key_of, records),
                    repeat(now, n), repeat((), n), repeat(expire_at, n)))


def _as_bytes(data: Any, what: str) -> bytes:
    """A private ``bytes`` copy of a bytes-like argument (never the caller's buffer)."""
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, bytes):
        return bytes(data)  # a bytes subclass becomes plain bytes
    raise TypeError(f"{what} must be bytes, not {type(data).__name__}")


class Broker(SchemaOperations, DeliveryOperations):
    """An embeddable FlyMQ broker over one data directory. Use as a context manager."""

    features: ClassVar[frozenset[str]] = SERVED
    """What this broker serves (:mod:`flymq.features`)."""
    _registry: ClassVar[dict[str, "Broker"]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, data_dir: str | os.PathLike | None = None,
                 config: BrokerConfig | None = None, *, clock: Clock | None = None,
                 name: str | None = None):
        if config is not None and not isinstance(config, BrokerConfig):
            raise TypeError(f"config must be a BrokerConfig, not {type(config).__name__} "
                            "(BrokerConfig(**settings) makes one from a dict)")
        self.config = config if config is not None else BrokerConfig()
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self.name = name
        self.closed = True  # until everything below is open
        self._close_lock = threading.Lock()
        self._started = time.monotonic()
        chosen = data_dir if data_dir is not None else self.config.data_dir
        self._temporary = chosen is None
        self.data_dir = make_temporary_dir(self) if chosen is None else Path(chosen)
        self._lock_fd: int | None = None
        self._flusher: Flusher | None = None
        self.timers = TimerService(self.clock)  # coordinators schedule on the broker's clock
        self._topics: TopicRegistry | None = None
        self._groups: GroupCoordinator | None = None
        self.faults: Any = None
        """A fault injector (``flymq.testing.faults.Faults``) that appends and reads ask
        first; None in production (one attribute test per call)."""
        self._transactions: TransactionCoordinator | None = None
        self._schemas: SchemaRegistry | None = None
        self._delays = self._dead_letters = None
        self._producer_ids = ProducerIds(self.data_dir / "producer-ids")
        try:
            raise_open_file_limit()  # every partition keeps its log file open
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # e.g. a file is in the way
                raise StorageError(f"cannot use {self.data_dir} as the data directory: "
                                   f"{exc.strerror}") from exc
            self._lock_fd = lock_directory(self.data_dir)  # one broker per directory
            self._flusher = Flusher()  # one thread for all logs, started on first use
            self._topics = TopicRegistry(self.data_dir / "topics", self.config, clock=self.clock,
                                         flusher=self._flusher)
            # the coordinator compacts its own log; retention would drop live commits
            group_log = dataclasses.replace(log_config_for(self.config, TopicConfig()),
                                            retention_ms=None, retention_bytes=None)
            self._groups = GroupCoordinator(
                self.data_dir / "groups", group_log, clock=self.clock, flusher=self._flusher,
                timers=self.timers, resolve=self._subscribed_topics,
                limits=Limits(self.config.group_min_session_timeout_ms,
                              self.config.group_max_session_timeout_ms))
            # topics created or deleted since that match a subscription rebalance its group
            self.timers.call_every(self.config.group_metadata_refresh_ms,
                                   self._groups.refresh_metadata)
            self._schemas = SchemaRegistry(
                self.data_dir / "schemas", group_log, clock=self.clock, flusher=self._flusher,
                max_schema_bytes=self.config.max_schema_bytes,
                default_compatibility=self.config.schema_compatibility)
            self._open_delivery(group_log)  # delayed messages, dead-letter queues
            self._transactions = self._open_transactions(group_log)
            if name is not None:
                self._register(name)
            self.timers.call_every(self.config.retention_check_interval_ms,
                                   self.apply_retention)
        except BaseException as exc:
            self._release()
            if isinstance(exc, OSError):  # e.g. a file where one of its directories belongs
                raise storage_error(Path(exc.filename or self.data_dir), exc, "use") from exc
            raise
        self._max_message = self.config.max_message_bytes
        self._by_name = self._topics.by_name
        self._now_ms = self.clock.now_ms
        self.closed = False
        try:
            self._delays.start()  # delivers what came due while the broker was down
        except BaseException:
            self.close()
            raise

    # --- lifecycle ----------------------------------------------------------------------------
    def _register(self, name: str) -> None:
        with Broker._registry_lock:
            if name in Broker._registry:
                raise ValueError(f"a broker named {name!r} is already running")
            Broker._registry[name] = self

    @classmethod
    def lookup(cls, name: str) -> "Broker":
        """The open broker registered as ``name`` (for ``embedded://<name>``); KeyError if none."""
        with cls._registry_lock:
            return cls._registry[name]

    def open_session(self, principal: str | None = None, client_id: str = "") -> Session:
        """A session for one caller (a TCP connection, an embedded client): front doors call
        every operation through it, and close it when the caller goes away."""
        self._check_open()
        return Session(self, principal, client_id)

    def client(self, **client_kwargs: Any) -> "FlyMQClient":
        """A client bound to this broker through the in-process transport."""
        from flymq.client import FlyMQClient
        return FlyMQClient(broker=self, **client_kwargs)

    def close(self) -> None:
        """Flush and release everything; a temporary data directory is removed. Idempotent."""
        with self._close_lock:
            if self.closed:
                return
            self.closed = True
        self._release()

    def _release(self) -> None:
        self.timers.close()  # waits for a running callback: the logs it uses are still open
        if self.name is not None:
            with Broker._registry_lock:
                if Broker._registry.get(self.name) is self:
                    del Broker._registry[self.name]
        for part in (self._transactions, self._schemas, self._delays, self._dead_letters,
                     self._topics, self._groups,
                     self._flusher):
            if part is not None:
                part.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # also releases the flock
            self._lock_fd = None
        if self._temporary:
            remove_temporary_dir(self.data_dir)

    def crash(self) -> None:
        """Stop as a killed process would (for tests): every call fails with
        BrokerClosedError until :meth:`restart`; no clean-shutdown checkpoint is left, so
        the restart recovers by scanning, as after ``kill -9``. What was acknowledged
        survives (appends reach the OS before they are acknowledged)."""
        with self._close_lock:
            if self.closed:
                raise BrokerClosedError("the broker is not running: nothing to crash")
            self.closed = True
        checkpoints = self._checkpoints()
        temporary, self._temporary = self._temporary, False  # a crash keeps its files
        try:
            self._release()
        finally:
            self._temporary = temporary
        for path in self._checkpoints().keys() - checkpoints.keys():
            path.unlink(missing_ok=True)
        for path, content in checkpoints.items():  # as they were at the crash
            write_atomically(path, content, sync_dir=False)

    def _checkpoints(self) -> dict[Path, bytes]:
        """Every recovery checkpoint file under the data directory, with its content."""
        found = {}
        for path in self.data_dir.rglob(CHECKPOINT_FILE):
            try:
                found[path] = path.read_bytes()
            except FileNotFoundError:  # replaced by an atomic rename meanwhile
                pass
        return found

    def restart(self) -> None:
        """Open this broker again from its data directory after :meth:`crash` or
        :meth:`close`, recovering as a new process would. The object stays the same, so
        clients and servers that hold it go on working; group memberships start empty."""
        with self._close_lock:
            if not self.closed:
                raise InvalidRequestError("the broker is running: crash() or close() it first")
        temporary = self._temporary
        self.__init__(self.data_dir, self.config, clock=self.clock, name=self.name)
        self._temporary = temporary  # a temporary directory is still removed on close

    def __enter__(self) -> "Broker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Broker {self.name or ''} {self.data_dir} {state}>"

    def _check_open(self) -> None:
        if self.closed:
            raise BrokerClosedError()

    # --- topics -------------------------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int = 1, *,
                     config: TopicConfig | None = None) -> bool:
        """Create ``topic`` (0 partitions means 1); False, changing nothing, if it exists.
        A topic bound to a schema (``config.schema``) needs the schema registered first."""
        self._check_open()
        if config is not None and config.schema is not None:
            self._schemas.get(config.schema)  # SchemaNotFoundError: nothing to validate with
        return self._topics.create(topic, partitions, config)

    def delete_topic(self, topic: str) -> bool:
        """Delete a topic and its records (group offsets stay); False if there was none."""
        self._check_open()
        return self._topics.delete(topic)

    def list_topics(self, *, include_internal: bool = False) -> list[str]:
        """Byte-wise sorted names; "__" names (internal by convention) only when asked for."""
        self._check_open()
        return self._topics.names(include_internal=include_internal)

    def topic_metadata(self, topic: str) -> TopicMetadata:
        """Name, partition count and the topic's own config overrides."""
        self._check_open()
        t = self._topics.get(topic)
        return TopicMetadata(t.name, t.partition_count, 1, t.config.to_dict())

    def partition_count(self, topic: str) -> int:
        self._check_open()
        return self._topics.get(topic).partition_count

    def describe_topic(self, topic: str) -> dict[str, Any]:
        """Each partition's offsets and stored bytes, and the topic's config overrides: what
        an operator asks about a topic, in one call on either door (DESCRIBE_TOPIC).

        ``size_bytes`` is the log's segment bytes, as ``flymq inspect`` counts them: indexes
        and the recovery checkpoint are derived files that come and go with a clean close,
        so a running and a stopped broker report the same figure."""
        self._check_open()
        t = self._topics.get(topic)
        partitions = []
        for leader in t.partitions:
            start, end = leader.offsets()
            partitions.append({"partition": leader.index, "start_offset": start,
                               "end_offset": end, "size_bytes": leader.log.size_bytes})
        return {"name": t.name, "partitions": partitions, "config": t.config.to_dict()}

    # --- produce ------------------------------------------------------------------------------
    def _topic_to_write(self, topic: str, highest_explicit: int) -> Topic:
        """The topic a produce path appends to, auto-created when allowed.

        ``highest_explicit`` (the largest explicit partition asked for, or -1) is checked
        before creating, so a rejected request leaves no topic behind.
        """
        while (t := self._by_name.get(topic)) is None:  # a delete may race the create
            self._check_open()
            if not self.config.auto_create_topics:
                raise TopicNotFoundError(topic, hint="Create the topic with create_topic(), or "
                                         "enable auto_create_topics in the broker config.")
            validate_topic_name(topic)
            if highest_explicit >= self.config.default_partitions:
                raise PartitionNotFoundError(topic, highest_explicit, style="out of range")
            self._topics.create(topic, self.config.default_partitions)
        return t

    def append(self, request: AppendRequest) -> AppendResult:
        """The one append path: every produce, embedded or over TCP, single or batched,
        ends here (``flymq.broker.appends`` describes the request and the result).

        All records are checked before any is written; each partition gets one storage
        append; placements come back in record order. With ``request.wait`` False the call
        returns once the OS has the records, and the caller acknowledges only after
        ``result.durability.wait()``.
        """
        if self.closed:
            raise BrokerClosedError()
        if self.faults is not None:  # tests: an injected failure or a full disk
            self.faults.before_append(request)
        if request.transaction_id is not None:
            return self._append_transactional(request, None)
        producer = request.producer
        if producer is not None and producer[0] < 0:  # "no producer id": a plain append
            request = request._replace(producer=None)
        elif producer is not None:
            return self._append_many(request)
        records = request.records
        if len(records) == 1:
            return self._append_one(request, records[0])
        return self._append_many(request)

    def _append_one(self, request: AppendRequest, record: RecordTuple) -> AppendResult:
        """:meth:`append` of one record without a producer: the most frequent request, so
        it skips the batch machinery (no grouping by partition, no record lists)."""
        if len(record) == 3:
            key, value, partition = record
            headers = timestamp = None
        else:
            key, value, partition, headers, timestamp = record
        topic = request.topic
        t = self._by_name.get(topic) or self._topic_to_write(topic, partition)
        if value.__class__ is not bytes:
            value = _as_bytes(value, "value")
        if key is not None and key.__class__ is not bytes:
            key = _as_bytes(key, "key")
        size = len(value) + (len(key) if key else 0)
        if size > self._max_message:
            raise MessageTooLargeError(size, self._max_message)
        if t.config.schema is not None:
            self._schemas.validate(t.config.schema, value)
        leaders = t.partitions
        chosen = partition
        if chosen < 0:
            count = len(leaders)
            # choose_partition inlined (two Python calls less): unkeyed records go round-robin
            chosen = 0 if count == 1 else key_partition(key, count) if key else \
                next(t.round_robin.counter) % count
        elif chosen >= len(leaders):
            raise PartitionNotFoundError(topic, chosen, style="out of range")
        now = self._now_ms()
        expire_at = request.expire_at
        if expire_at is None and t.config.ttl_ms is not None:  # the topic's default TTL
            expire_at = now + t.config.ttl_ms
        leader = leaders[chosen]
        try:
            if headers or request.compression is not None:
                offset = leader.append(request, ((value, key or None,  # as _stored
                                                  now if timestamp is None else timestamp,
                                                  encode_headers(headers) if headers else (),
                                                  expire_at),), now=now)
            else:  # the single produce: no record tuples on the way down
                offset = leader.append_record(value, key or None, timestamp or now,
                                              expire_at, now, request.wait)
        except TopicNotFoundError:  # deleted since the lookup, before anything was written
            if not self.config.auto_create_topics or self.closed:
                raise
            return self._append_one(request, record)
        return _new_result((now, [(chosen, offset)],
                            DURABLE if request.wait or leader.durable_when_written
                            else leader.durability(offset + 1)))

    def _append_many(self, request: AppendRequest) -> AppendResult:
        """:meth:`append` of a batch, or of any records of an idempotent producer."""
        topic, producer = request.topic, request.producer
        checked, values = self._checked_records(request.records)
        if not checked:
            return AppendResult(self._now_ms(), [])
        if request.expire_at is not None:
            values = None  # the values-only encoding carries no expiry
        highest = max(map(_partition_of, checked))
        t = self._topic_to_write(topic, highest)
        if t.config.schema is not None:
            self._schemas.validate_all(t.config.schema, values or list(map(_value_of, checked)))
        if request.expire_at is None and t.config.ttl_ms is not None:  # the topic's default TTL
            request = request._replace(expire_at=self._now_ms() + t.config.ttl_ms)
            values = None
        leaders = t.partitions
        if highest >= len(leaders):
            raise PartitionNotFoundError(topic, highest, style="out of range")
        now = self._now_ms()
        count, round_robin = len(leaders), t.round_robin
        if producer is not None or count == 1:  # one partition: one append, in record order
            if producer is not None and (highest < 0 or
                                         min(map(_partition_of, checked)) != highest):
                raise InvalidRequestError("invalid idempotent batch: every record must name "
                                          "the same partition")
            chosen = max(highest, 0)
            leader = leaders[chosen]
            if values is not None:
                base = leader.append(request, values, now)
            else:
                base = leader.append(request, _new_records(checked, now, request.expire_at))
            end = base + len(checked)
            return AppendResult(now, list(zip(repeat(chosen), range(base, end))),
                                DURABLE if request.wait else leader.durability(end))
        by_partition: dict[int, list] = {}   # Records, or values when every record is keyless
        placed: list[tuple[int, int]] = []  # (partition, position within its append)
        expire_at = request.expire_at
        for record in checked:
            partition = record[2]
            if partition < 0:
                partition = choose_partition(record[0], count, round_robin)
            batch = by_partition.get(partition)
            if batch is None:
                batch = by_partition[partition] = []
            placed.append((partition, len(batch)))
            batch.append(record[1] if values is not None else _stored(record, now, expire_at))
        if values is not None:
            bases = {p: leaders[p].append(request, batch, now)
                     for p, batch in by_partition.items()}
        else:
            bases = {p: leaders[p].append(request, batch) for p, batch in by_partition.items()}
        durability = DURABLE if request.wait else Durability(
            [(leaders[p], bases[p] + len(batch)) for p, batch in by_partition.items()])
        return AppendResult(now, [(p, bases[p] + i) for p, i in placed], durability)

    def _checked_records(self, records: Sequence[RecordTuple]
                         ) -> tuple[list[RecordTuple], list[bytes] | None]:
        """The records with private bytes and int partitions, and their values when no
        record has a key, headers or timestamp (else None); raises on the first record that
        is too large or mistyped, before anything is written. A checked record is the
        caller's ``(None, value, partition)`` when all are plain, else ``(key or None, value,
        partition, encoded headers, timestamp or None)``."""
        limit = self._max_message
        values = _plain_values(records) if records else None
        if values is not None and max(map(len, values)) <= limit:
            return records if type(records) is list else list(records), values
        checked: list[RecordTuple] = []
        add = checked.append
        plain = True
        for record in records:
            if len(record) == 3:
                key, value, partition = record
                headers = timestamp = None
            else:
                key, value, partition, headers, timestamp = record
            if value.__class__ is not bytes:
                value = _as_bytes(value, "value")
            if key is not None and key.__class__ is not bytes:
                key = _as_bytes(key, "key")
            size = len(value) + (len(key) if key else 0)
            if size > limit:
                raise MessageTooLargeError(size, limit)
            if partition.__class__ is not int:
                if not isinstance(partition, int):
                    raise TypeError(f"partition must be an int, not {type(partition).__name__}")
                partition = int(partition)
            key = key or None
            plain = plain and key is None and not headers and timestamp is None
            add((key, value, partition, encode_headers(headers) if headers else (), timestamp))
        return checked, (list(map(_value_of, checked)) if plain else None)

    def produce(self, topic: str, value: bytes, key: bytes | None = None, partition: int = -1,
                *, headers: dict[str, str] | None = None, timestamp: int | None = None,
                wait: bool = True) -> RecordMetadata:
        """Append one record; ``partition`` < 0 lets the key hash or round-robin choose."""
        result = self.append(new_request((topic, ((key, value, partition, headers, timestamp),))
                                         + (WAITING if wait else NOT_WAITING)))
        partition, offset = result.placements[0]
        return RecordMetadata(topic, partition, offset, result.timestamp,
                              len(key) if key else -1, len(value))

    def produce_batch(self, topic: str, records: Sequence[RecordTuple]) -> RecordMetadataList:
        """Append many ``(key, value, partition)`` records (see :meth:`append`); the results
        come as a list that builds each ``RecordMetadata`` when it is read."""
        result = self.append(AppendRequest(topic, records))
        return RecordMetadataList.of_batch(topic, result.timestamp, result.placements, records)

    def init_producer_id(self) -> tuple[int, int]:
        """A new ``(producer_id, epoch)`` for an idempotent producer: never handed out twice,
        also across restarts (the last id is fsynced before it is returned)."""
        self._check_open()
        return self._producer_ids.next(), 0

    # --- transactions (flymq/broker/transactions.py; docs/transactions.md) ----------------------
    def _open_transactions(self, log_config: LogConfig) -> TransactionCoordinator:
        """The transaction coordinator, recovered from its log before any read is served."""
        c = self.config
        return TransactionCoordinator(
            self.data_dir / "transactions", log_config, clock=self.clock, flusher=self._flusher,
            timers=self.timers, topics=self._topics.by_name,
            commit_offset=lambda topic, group, partition, offset: self._groups.commit_offsets(
                group, [(topic, partition, offset)], check=False),  # a decided commit: apply
            timeout_ms=c.transaction_timeout_ms, max_timeout_ms=c.transaction_max_timeout_ms,
            max_open=c.max_open_transactions, max_bytes=c.max_transaction_bytes,
            buffer_bytes=c.transaction_buffer_bytes)

    def begin_transaction(self, *, owner: object = None, timeout_ms: int | None = None,
                          txn_id: str | None = None) -> str:
        """A new transaction id (``txn_id``: one a client picked, :mod:`flymq.txn_ids`).
        Only ``owner`` (a session; None: any caller) may use it; it is aborted when idle
        for ``timeout_ms`` (default ``transaction_timeout_ms``)."""
        self._check_open()
        return self._transactions.begin(owner, timeout_ms, txn_id)

    def produce_transactional(self, txn_id: str, topic: str, value: bytes, *,
                              owner: object = None) -> RecordMetadata:
        """Add a record to the transaction (invisible until it commits). As upstream, the
        metadata is a placeholder (partition 0, offset 0): offsets are assigned at commit."""
        now = self._add_transactional(txn_id, ((topic, value),), owner)
        return RecordMetadata(topic, 0, 0, now, -1, len(value))

    def produce_transactional_batch(self, txn_id: str, records: Sequence[tuple[str, bytes]],
                                    *, commit: bool = False, begin: bool = False,
                                    owner: object = None) -> None:
        """Add ``(topic, value)`` records to the transaction, all or none, then commit it if
        ``commit``: what a client's :class:`~flymq.client.transaction.Transaction` sends,
        so that a transaction costs one call (one round trip over TCP), not one per record.
        ``begin``: begin it first under ``txn_id``, an id the client picked. If the records
        are refused, the transaction is as it was (begun, if ``begin``); if the commit
        fails, they stay in it."""
        if begin:
            self.begin_transaction(owner=owner, txn_id=txn_id)
        self._add_transactional(txn_id, records, owner)
        if commit:
            self.commit_transaction(txn_id, owner=owner)

    def _add_transactional(self, txn_id: str, records: Sequence[tuple[str, bytes]],
                           owner: object) -> int:
        """Buffer ``(topic, value)`` records in the transaction, all or none; returns their
        timestamp."""
        self._check_open()
        now = self._now_ms()
        buffered: list = []
        for topic, value in records:
            t = self._by_name.get(topic)
            if t is None or value.__class__ is not bytes or t.config.schema is not None or \
                    len(value) > self._max_message:  # anything to check or create
                buffered += self._transactional_records(
                    AppendRequest(topic, ((None, value, -1),), transaction_id=txn_id), owner,
                    now)
                continue
            # The common record (an existing topic, a bytes value) without building a request
            # and checking it as a batch: a third of the time of each transactional produce.
            count = len(t.partitions)
            partition = 0 if count == 1 else choose_partition(None, count, t.round_robin)
            buffered.append((topic, partition, _new_record((value, None, now, (), None))))
        self._transactions.add(txn_id, buffered, owner)
        return now

    def _append_transactional(self, request: AppendRequest, owner: object) -> AppendResult:
        """:meth:`append` of a request with a transaction id: the records are checked, given
        their partitions and buffered in the transaction until it commits."""
        self._check_open()
        now = self._now_ms()
        buffered = self._transactional_records(request, owner, now)
        if buffered:
            self._transactions.add(request.transaction_id, buffered, owner)
        return AppendResult(now, [(0, 0)] * len(buffered))

    def _transactional_records(self, request: AppendRequest, owner: object,
                               now: int) -> list:
        """The records of ``request`` checked and given their partitions, as the coordinator
        buffers them: ``(topic, partition, Record)``."""
        txn_id, topic = request.transaction_id, request.topic
        self._transactions.check(txn_id, owner)  # a dead transaction creates no topic
        checked, _ = self._checked_records(request.records)
        if not checked:
            return []
        highest = max(map(_partition_of, checked))
        t = self._topic_to_write(topic, highest)
        count = len(t.partitions)
        if highest >= count:
            raise PartitionNotFoundError(topic, highest, style="out of range")
        if t.config.schema is not None:
            self._schemas.validate_all(t.config.schema, list(map(_value_of, checked)))
        buffered = []
        for record in checked:
            key, value, partition = record[0], record[1], record[2]
            headers, timestamp = (record[3], record[4]) if len(record) > 3 else ((), None)
            if partition < 0:
                partition = choose_partition(key, count, t.round_robin)
            buffered.append((topic, partition, _new_record(
                (value, key, now if timestamp is None else timestamp, headers,
                 request.expire_at))))
        return buffered

    def send_offsets_to_transaction(self, txn_id: str, group_id: str,
                                    offsets: Sequence[tuple[str, int, int]], *,
                                    owner: object = None) -> None:
        """Commit ``(topic, partition, next offset)`` for ``group_id`` if and only if the
        transaction commits: consume-transform-produce exactly once."""
        self._check_open()
        self._transactions.add_offsets(txn_id, validate_group_id(group_id), offsets, owner)

    def commit_transaction(self, txn_id: str, *, owner: object = None) -> None:
        """Make every record of the transaction visible at once; returns when the decision
        and the data are durable. A failed commit leaves it open for a rollback."""
        self._check_open()
        self._transactions.commit(txn_id, owner)

    def transaction_commit_waits(self, txn_id: str) -> bool:
        """Whether committing ``txn_id`` now may wait on the disk (for a server: whether to
        run it on a worker thread)."""
        return self._transactions.commit_waits(txn_id)

    def abort_transaction(self, txn_id: str, *, owner: object = None) -> None:
        """Discard the transaction."""
        self._check_open()
        self._transactions.abort(txn_id, owner)

    def transactions_owner_left(self, owner: object) -> None:
        """A session closed: abort the transactions it left open."""
        if not self.closed:
            self._transactions.owner_left(owner)

    # --- read ---------------------------------------------------------------------------------
    def _leader(self, topic: str, partition: int) -> PartitionLeader:
        """The leader for a read path: ``topic not found: <t>`` / ``partition <n> not found``."""
        t = self._by_name.get(topic)
        if t is None:
            self._check_open()
            raise TopicNotFoundError(topic)
        if not 0 <= partition < len(t.partitions):
            raise PartitionNotFoundError(topic, partition, style="not found")
        return t.partitions[partition]

    def consume(self, topic: str, partition: int, offset: int) -> "ConsumedMessage":
        """Exactly the record at ``offset``; OffsetOutOfRangeError (wire ``EOF``) if absent."""
        self._check_open()
        if self.faults is not None and self.faults.before_read(topic, partition):
            raise OffsetOutOfRangeError(topic, offset, partition=partition)  # tests: paused
        t = self._by_name.get(topic)
        if t is None:
            raise TopicNotFoundError(topic, wire="topic not found")
        if not 0 <= partition < len(t.partitions):
            raise PartitionNotFoundError(topic, partition, style="out of range")
        run = t.partitions[partition].record_at(offset, self.clock.now_ms())
        return to_messages(topic, partition, [run])[0]

    def fetch(self, topic: str, partition: int = 0, offset: int = 0, max_messages: int = 10,
              filter: str = "", *, max_bytes: int | None = None,
              max_wait_ms: int = 0, read_uncommitted: bool = False) -> FetchResult:
        """Up to ``max_messages`` records from ``offset`` (wire spec §7.6), whose values fit
        ``max_bytes`` (at least one record).

        Unlike a standard FETCH, which examines at most 1,000 records, this reads as many as
        ``max_messages`` asks for: ``fetch(..., max_messages=10_000)`` is the fast way to read
        in bulk. ``next_offset`` is the first offset not examined; at the end of the log the
        result is empty and ``next_offset == offset``. With ``max_wait_ms`` > 0 an empty read
        waits that long for new records before answering. Only committed records are read,
        unless ``read_uncommitted`` (for debugging: open and aborted transactions' records).
        """
        runs, next_offset = self.fetch_runs(topic, partition, offset, max_messages, filter,
                                            max_bytes=max_bytes, max_wait_ms=max_wait_ms,
                                            read_uncommitted=read_uncommitted)
        return FetchResult(to_messages(topic, partition, runs), next_offset)

    def fetch_runs(self, topic: str, partition: int, offset: int, max_messages: int,
                   filter: str = "", *, max_bytes: int | None = None, max_wait_ms: int = 0,
                   scan_limit: int | None = None, read_uncommitted: bool = False
                   ) -> tuple[list[BatchRun], int]:
        """:meth:`fetch` as runs of stored columns, for the TCP server to encode replies from
        without building messages; ``scan_limit`` caps the records examined (standard FETCH:
        1,000; default: ``max(1000, max_messages)``)."""
        if self.closed:
            raise BrokerClosedError()
        if self.faults is not None and self.faults.before_read(topic, partition):
            return [], offset  # tests: a paused partition delivers nothing
        leader = self._leader(topic, partition)
        if max_messages <= 0:
            max_messages = DEFAULT_FETCH_MESSAGES
        if scan_limit is None:
            scan_limit = max(SCAN_LIMIT, max_messages)
        predicate = compile_filter(filter) if filter else None
        budget = max_bytes if max_bytes is not None and max_bytes > 0 else \
            self.config.fetch_max_bytes
        committed = not read_uncommitted
        runs, next_offset = leader.scan(offset, max_messages, predicate, self.clock.now_ms(),
                                        budget, scan_limit, committed=committed)
        if not runs and next_offset == offset and max_wait_ms > 0:
            leader.wait_for_data(offset, max_wait_ms / 1000.0)
            if not self.closed:
                runs, next_offset = leader.scan(offset, max_messages, predicate,
                                                self.clock.now_ms(), budget, scan_limit,
                                                committed=committed)
        return runs, next_offset

    def watch(self, topic: str, partition: int, offset: int,
              callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once (from any thread) when a record at or past ``offset`` exists
        or the topic goes away; returns a function that cancels the watch."""
        self._check_open()
        return self._leader(topic, partition).watch(offset, callback)

    def offsets(self, topic: str, partition: int) -> tuple[int, int]:
        """(first retained offset, offset the next record gets)."""
        self._check_open()
        return self._leader(topic, partition).offsets()

    def offset_for_timestamp(self, topic: str, partition: int, timestamp_ms: int) -> int:
        """The first offset whose record timestamp is >= ``timestamp_ms``; the end offset when
        there is none."""
        self._check_open()
        leader = self._leader(topic, partition)
        found = leader.log.offset_for_timestamp(timestamp_ms)
        return leader.offsets()[1] if found is None else found

    # --- consumer groups ------------------------------------------------------------------------
    # A group is a group_id across topics (flymq/broker/groups.py); the per-topic methods are
    # upstream's view of it, the group methods its membership protocol (membership.py).
    def subscribe(self, topic: str, group_id: str, partition: int = 0, mode: str = "latest", *,
                  member: str | None = None) -> int:
        """The offset a consumer should read next; a non-empty group gains ``member``."""
        self._check_open()
        mode = str(mode)
        if group_id:  # upstream registers membership before validating anything else
            self._groups.subscribe(topic, group_id, member)
        if mode not in SUBSCRIBE_MODES:
            raise InvalidRequestError(f"unknown subscribe mode: {mode}")
        start, end = self._leader(topic, partition).offsets()
        if mode == "earliest":
            return start
        if mode == "commit":
            committed = self._groups.committed(topic, group_id, partition) if group_id else None
            return start if committed is None else committed
        return end  # "latest" and "": the log end offset (flymq deviation: 0 when empty)

    def commit_offset(self, topic: str, group_id: str, partition: int, offset: int) -> None:
        """Store the next offset the group reads; durable when this returns. As upstream, the
        topic is not checked; refused while the group has members (they commit with their
        generation, :meth:`commit_group_offsets`)."""
        self._check_open()
        self._groups.commit(topic, group_id, partition, offset)

    def get_committed_offset(self, topic: str, group_id: str, partition: int = 0) -> int:
        """The committed offset; 0 when the group has none for this partition."""
        self._check_open()
        if not self._groups.exists(topic, group_id):
            raise ConsumerGroupNotFoundError(topic, group_id)
        committed = self._groups.committed(topic, group_id, partition)
        return 0 if committed is None else committed

    def reset_offset(self, topic: str, group_id: str, partition: int = 0,
                     mode: str = "earliest", offset: int | None = None) -> None:
        """Commit the log start ("earliest"), end ("latest") or ``offset`` ("offset");
        refused while the group has members, as in Kafka."""
        self._check_open()
        mode = str(mode)
        if mode not in RESET_MODES:
            raise InvalidRequestError(f"unknown reset mode: {mode}")
        if mode == "offset":
            target = 0 if offset is None else offset
        else:
            start, end = self._leader(topic, partition).offsets()
            target = start if mode == "earliest" else end
        self._groups.commit(topic, group_id, partition, target)

    def get_lag(self, topic: str, group_id: str, partition: int = 0) -> dict[str, int]:
        """current/committed offset, latest (log end) offset and the lag between them."""
        self._check_open()
        committed = self.get_committed_offset(topic, group_id, partition)
        latest = self._leader(topic, partition).offsets()[1]
        return {"current_offset": committed, "committed_offset": committed,
                "latest_offset": latest, "lag": max(0, latest - committed)}

    def list_consumer_groups(self, topic: str = "") -> list[dict]:
        """Every (topic, group) pair (of ``topic`` if given), sorted by topic and group id."""
        self._check_open()
        return self._groups.list(topic)

    def describe_consumer_group(self, topic: str, group_id: str) -> dict:
        self._check_open()
        return self._groups.describe(topic, group_id)

    def delete_consumer_group(self, topic: str, group_id: str) -> None:
        """The group's offsets on ``topic``; refused while the group has members."""
        self._check_open()
        self._groups.delete(topic, group_id)

    def join_group(self, group_id: str, member_id: str = "", *, owner: object,
                   client_id: str = "", host: str = "", topics: Sequence[str] = (),
                   strategies: Sequence[str] = ("range",), session_timeout_ms: int = 30_000,
                   rebalance_timeout_ms: int = 300_000) -> JoinResult:
        """Join ``group_id`` (member id "" for a new member) or join again during a rebalance;
        ``owner`` is the calling session. Generation −1: wait for the others, join again."""
        self._check_open()
        return self._groups.join(group_id, member_id, owner, client_id=client_id, host=host,
                                 topics=list(topics), strategies=list(strategies),
                                 session_timeout_ms=session_timeout_ms,
                                 rebalance_timeout_ms=rebalance_timeout_ms)

    def sync_group(self, group_id: str, member_id: str, generation: int, *,
                   owner: object) -> list[tuple[str, int]]:
        """The member's partitions in ``generation``."""
        self._check_open()
        return self._groups.sync(group_id, member_id, generation, owner)

    def heartbeat(self, group_id: str, member_id: str, generation: int, *, owner: object) -> None:
        """Keep the member's session; RebalanceInProgressError: revoke and join again."""
        self._check_open()
        self._groups.heartbeat(group_id, member_id, generation, owner)

    def leave_group(self, group_id: str, member_id: str, *, owner: object) -> None:
        self._check_open()
        self._groups.leave(group_id, member_id, owner)

    def commit_group_offsets(self, group_id: str, offsets: Sequence[OffsetCommit], *,
                             member_id: str = "", generation: int = -1,
                             owner: object = None) -> None:
        """Commit ``(topic, partition, offset)`` triples as one durable change, checked
        against the member's generation and assignment (all or none)."""
        self._check_open()
        self._groups.commit_offsets(group_id, offsets, member_id=member_id,
                                    generation=generation, owner=owner)

    def fetch_group_offsets(self, group_id: str) -> dict[tuple[str, int], int]:
        """Every committed offset of the group, by (topic, partition)."""
        self._check_open()
        return self._groups.committed_all(group_id)

    def list_groups(self) -> list[str]:
        """The ids of every group with committed offsets or members."""
        self._check_open()
        return self._groups.group_ids()

    def describe_group(self, group_id: str) -> dict:
        """The whole group: state, generation, protocol, leader, members (client id, host,
        subscription, assignment) and, per partition, the committed offset, the log end and
        the lag."""
        self._check_open()
        group = self._groups.describe_group(group_id)
        for entry in group["offsets"]:
            try:
                latest = self._leader(entry["topic"], entry["partition"]).offsets()[1]
            except FlyMQError:  # the topic was deleted after the commit
                latest = entry["offset"]
            entry["latest_offset"] = latest
            entry["lag"] = max(0, latest - entry["offset"])
        return group

    def delete_group(self, group_id: str) -> None:
        """Every committed offset of the group; refused while it has members."""
        self._check_open()
        self._groups.delete_group(group_id)

    def member_left(self, member: str) -> None:
        """Session ``member`` went away: its SUBSCRIBE memberships end and the members it
        joined leave their groups cleanly (called by Session.close)."""
        if not self.closed:
            self._groups.session_closed(member)

    def _subscribed_topics(self, subscription: Sequence[str]) -> dict[str, int]:
        """Existing topics named or matched (MQTT-style patterns) by ``subscription``, with
        their partition counts: what a group's members share."""
        by_name = self._topics.by_name
        names = resolve(list(subscription), self._topics.names())
        return {t: by_name[t].partition_count for t in names if t in by_name}

    def apply_retention(self) -> int:
        """Drop whole segments past each topic's retention limits (and with them expired TTL
        records); returns how many segments went. For a periodic caller such as the server."""
        self._check_open()
        self.remove_expired()
        self._delays.delete_delivered()
        return sum(leader.apply_retention() for t in list(self._by_name.values())
                   for leader in t.partitions)

    # --- information ----------------------------------------------------------------------------
    def server_info(self) -> dict:
        """Version, uptime, topic count and storage settings, for SERVER_INFO and tools."""
        self._check_open()
        return {"version": _version(), "name": self.name or "",
                "uptime_ms": int((time.monotonic() - self._started) * 1000),
                "topics": len(self._topics.names()), "data_dir": str(self.data_dir),
                "fsync": self.config.fsync, "features": sorted(self.features)}
