"""Every exception flymq raises, and the mapping between them and wire error texts.

One hierarchy serves the broker, both client transports and the ``pyflymq`` alias. Each
error carries a message, an optional ``hint`` (how to fix it) and a ``wire`` text: the exact
string the TCP server sends in an ERROR frame. The texts follow the upstream Go server so that
upstream SDKs behave as they would against it; :func:`error_from_wire` turns such a text back
into the most specific class on the client side.

Specific broker errors (topic not found, offset out of range, ...) are also ``ServerError``s,
so code written against upstream pyflymq (which only ever raises ``ServerError``) keeps working.
"""

from __future__ import annotations

import ast
import builtins
import re
from typing import Callable

from flymq.wire_limits import MAX_FRAME_PAYLOAD

__all__ = [
    "FlyMQError", "ConnectionError", "ConnectionClosedError", "ConnectionTimeoutError",
    "AuthenticationError", "AuthorizationError", "ServerError", "InvalidRequestError",
    "UnsupportedOperationError", "TopicError", "TopicNotFoundError", "TopicAlreadyExistsError",
    "InvalidTopicNameError", "PartitionNotFoundError", "ProducerError", "MessageTooLargeError", "OutOfOrderSequenceError",
    "ConsumerError", "OffsetOutOfRangeError", "ConsumerGroupError",
    "ConsumerGroupNotFoundError", "InvalidGroupIdError", "GroupMembershipError",
    "UnknownMemberIdError",
    "IllegalGenerationError", "RebalanceInProgressError", "InconsistentGroupProtocolError",
    "PartitionNotAssignedError", "GroupNotEmptyError", "TransactionError", "TransactionNotActiveError",
    "TransactionTimeoutError", "TransactionNotFoundError", "TransactionRefusedError",
    "SchemaError", "SchemaNotFoundError", "SchemaValidationError",
    "InvalidSchemaError", "SchemaCompatibilityError",
    "ClusterError", "NotLeaderError", "NoAvailableServerError", "CryptoError",
    "EncryptionError", "DecryptionError", "InvalidKeyError", "TimeoutError", "StorageError",
    "FsyncFailedError", "CorruptRecordError", "BrokerClosedError", "DelayedMessageNotFoundError",
    "DeadLetterNotFoundError", "ProtocolError",
    "InvalidMagicError", "InvalidVersionError", "FrameTooLargeError", "error_from_wire",
    "wire_text",
]


def _reduce_from_state(exc: BaseException) -> tuple:
    """Pickle ``exc`` as "a bare instance with these ``args``, then this ``__dict__``".

    The default ``BaseException.__reduce__`` unpickles by calling ``cls(*exc.args)``, which
    breaks for every class whose constructor takes other arguments than its message (e.g.
    ``OffsetOutOfRangeError(topic, offset)``). Skipping ``__init__`` and restoring the state
    works for all of them, so errors survive multiprocessing, ``copy`` and result caches.
    """
    return _new_exception, (type(exc), exc.args), exc.__dict__


def _new_exception(cls: type[BaseException], args: tuple) -> BaseException:
    """An instance of ``cls`` with ``args`` but without running ``cls.__init__``."""
    exc = cls.__new__(cls)
    exc.args = args  # set explicitly: OSError subclasses (TimeoutError) ignore __new__ args
    return exc


class FlyMQError(Exception):
    """Base of every flymq error: a message, an optional hint and the text sent on the wire."""

    default_hint: str | None = None
    __reduce__ = _reduce_from_state

    def __init__(self, message: str = "", *, hint: str | None = None, wire: str | None = None):
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.wire = wire if wire is not None else message
        super().__init__(message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n\n  Hint: {self.hint}"
        return self.message


# --- connection ---------------------------------------------------------------------------

class ConnectionError(FlyMQError):  # noqa: A001 - the upstream SDK shadows the builtin too
    """The connection to a server failed or broke in the middle of a request."""

    def __init__(self, message: str, host: str | None = None, port: int | None = None, *,
                 hint: str | None = None):
        self.host, self.port = host, port
        if hint is None and host is not None:
            hint = f"Make sure a FlyMQ server is running at {host}:{port} and is reachable."
        super().__init__(message, hint=hint)


class ConnectionClosedError(ConnectionError):
    default_hint = "The server may have restarted; the next call reconnects."

    def __init__(self, message: str = "Connection closed by server", *, hint: str | None = None):
        super().__init__(message, hint=hint or self.default_hint)


class ConnectionTimeoutError(ConnectionError):
    def __init__(self, message: str, host: str | None = None, port: int | None = None):
        super().__init__(message, host, port,
                         hint="Raise connect_timeout_ms or check the network path to the server.")


class AuthenticationError(FlyMQError):
    default_hint = "Check the credentials; call authenticate() or pass username/password to connect()."

    def __init__(self, message: str = "Authentication failed", *, hint: str | None = None,
                 wire: str | None = None):
        super().__init__(message, hint=hint, wire=wire)


# --- server-side failures -----------------------------------------------------------------

class ServerError(FlyMQError):
    """The broker refused or failed a request. Specific failures subclass this too."""

    def __init__(self, message: str = "", op_code: int | None = None, *, hint: str | None = None,
                 wire: str | None = None):
        self.op_code = op_code
        super().__init__(message, hint=hint, wire=wire)


class AuthorizationError(ServerError):
    default_hint = "Authenticate as a user whose roles or the topic ACL grant this operation."


class InvalidRequestError(ServerError):
    """A request field is malformed or out of its allowed range."""

    default_hint = "Check the request arguments against the API reference."


class UnsupportedOperationError(ServerError):
    """The server does not implement this operation (unknown opcode or feature not built yet)."""

    default_hint = ("Use an operation this server supports; FlyMQClient.supports(feature) "
                    "tells which optional features it serves.")


class BrokerClosedError(ServerError):
    def __init__(self, message: str = "broker is closed", **kw):
        super().__init__(message, **kw)


class DelayedMessageNotFoundError(ServerError):
    """No pending delayed message has this id (unknown, or already delivered or cancelled)."""

    default_hint = ("Only a pending delayed message can be cancelled; "
                    "list_delayed(topic) shows the pending ones.")

    def __init__(self, delay_id: str, state: str = "not found", *, hint: str | None = None):
        self.delay_id, self.state = delay_id, state
        text = f"delayed message {delay_id} {state}"
        ServerError.__init__(self, text, hint=hint, wire=text)


class DeadLetterNotFoundError(ServerError):
    """No entry of the topic's dead-letter queue has this id or offset (never there, already
    replayed, or purged). REPLAY_DLQ answers it as upstream's soft failure."""

    default_hint = "fetch_dlq(topic) lists the entries that are still there, with their ids."

    def __init__(self, topic: str, what: str, *, hint: str | None = None):
        self.topic = topic
        ServerError.__init__(self, f"message not found{what} in the dead-letter queue of "
                                   f"{topic}", hint=hint, wire=f"message not found{what}")


class TopicError(FlyMQError):
    pass


class TopicNotFoundError(TopicError, ServerError):
    default_hint = ("Create it with create_topic() or `flymq topics create`; a produce creates a "
                    "missing topic when the broker's auto_create_topics is on, reads never do.")

    def __init__(self, topic: str, *, hint: str | None = None, wire: str | None = None):
        self.topic = topic
        ServerError.__init__(self, f"Topic not found: {topic}", hint=hint,
                             wire=wire if wire is not None else f"topic not found: {topic}")


class TopicAlreadyExistsError(TopicError, ServerError):
    default_hint = "List existing topics with list_topics(); create_topic() is idempotent."

    def __init__(self, topic: str, *, hint: str | None = None):
        self.topic = topic
        ServerError.__init__(self, f"Topic already exists: {topic}", hint=hint,
                             wire=f"topic already exists: {topic}")


class InvalidTopicNameError(TopicError, InvalidRequestError):
    default_hint = ("Topic names are 1-249 bytes of UTF-8; levels are separated by '/', may not be "
                    "empty, '.' or '..', and may not contain '+', '#', '\\' or control characters.")

    def __init__(self, topic: str, reason: str = "", *, hint: str | None = None):
        self.topic, self.reason = topic, reason
        text = f"invalid topic name: {topic}"
        ServerError.__init__(self, text + (f" ({reason})" if reason else ""), hint=hint, wire=text)


class PartitionNotFoundError(TopicError, InvalidRequestError):
    """A partition number outside ``0 .. partitions-1``.

    Upstream uses two texts: ``partition N out of range`` (produce, consume) and
    ``partition N not found`` (fetch, subscribe, offsets); ``style`` picks one.
    """

    default_hint = "Partitions are numbered from 0 to partitions-1; see get_cluster_metadata()."

    def __init__(self, topic: str, partition: int, *, style: str = "not found",
                 hint: str | None = None):
        self.topic, self.partition = topic, partition
        text = f"partition {partition} {style}"
        ServerError.__init__(self, f"{text} (topic {topic})" if topic else text, hint=hint,
                             wire=text)


class ProducerError(FlyMQError):
    pass


class MessageTooLargeError(ProducerError, ServerError):
    default_hint = "Split the message, compress it, or raise the server's max_message_bytes."

    def __init__(self, size: int, max_size: int = MAX_FRAME_PAYLOAD, *, hint: str | None = None):
        self.size, self.max_size = size, max_size
        ServerError.__init__(
            self, f"Message size {size} bytes exceeds maximum {max_size} bytes", hint=hint,
            wire=f"message too large: {size} bytes exceeds maximum {max_size} bytes")


class OutOfOrderSequenceError(ProducerError, ServerError):
    """An idempotent batch whose sequence is neither the next expected one nor a retry of a
    recent batch: records in between were lost, or two producers share an id. Not retriable."""

    default_hint = ("Records were sent out of order or a producer id is shared. Create a new "
                    "producer and send the records that were not acknowledged again.")

    def __init__(self, producer_id: int, where: str, expected: int, received: int, *,
                 hint: str | None = None):
        self.producer_id, self.expected, self.received = producer_id, expected, received
        text = (f"out of order sequence: producer {producer_id} on {where} expected "
                f"sequence {expected}, got {received}")
        ServerError.__init__(self, text, hint=hint, wire=text)


class ConsumerError(FlyMQError):
    pass


class OffsetOutOfRangeError(ConsumerError, ServerError):
    """No record at that offset: below the log start or at/after the log end.

    On the wire this is upstream's bare ``EOF``.
    """

    default_hint = "Subscribe from 'earliest' or 'latest', or fetch() which returns empty at the end."

    def __init__(self, topic: str, offset: int, *, partition: int | None = None,
                 start: int | None = None, end: int | None = None, hint: str | None = None):
        self.topic, self.offset, self.partition = topic, offset, partition
        self.start, self.end = start, end
        text = f"Offset {offset} out of range for topic {topic}"
        if start is not None and end is not None:
            text += f" (partition {partition} holds offsets {start}..{end - 1})" if end > start \
                else f" (partition {partition} is empty, next offset {end})"
        ServerError.__init__(self, text, hint=hint, wire="EOF")


class ConsumerGroupError(ConsumerError):
    pass


class ConsumerGroupNotFoundError(ConsumerGroupError, ServerError):
    default_hint = "Commit an offset or subscribe with the group first; list_consumer_groups() shows them."

    def __init__(self, topic: str, group_id: str, *, hint: str | None = None):
        self.topic, self.group_id = topic, group_id
        text = f"consumer group not found: {topic}:{group_id}"
        ServerError.__init__(self, text, hint=hint, wire=text)


class InvalidGroupIdError(ConsumerGroupError, InvalidRequestError):
    """A group id outside the rule of :mod:`flymq.group_ids` (the topic-name rule). The id is
    shown as a Python literal, cut at 64 characters, so that any id can be sent and read."""

    default_hint = ("Group ids follow the topic-name rule: 1-249 bytes of UTF-8, levels "
                    "separated by '/' that are not empty, '.' or '..', no '+', '#', '\\' or "
                    "control characters (docs/consumers.md, \"Group ids\").")

    def __init__(self, group_id: object, reason: str, *, shown: str | None = None,
                 hint: str | None = None):
        self.group_id, self.reason = group_id, reason
        if shown is None:
            shown = repr(group_id[:64]) + ("..." if len(group_id) > 64 else "") \
                if isinstance(group_id, str) else repr(group_id)[:80]
        text = f"invalid group id {shown}: {reason}"
        ServerError.__init__(self, text, hint=hint, wire=text)

    @classmethod
    def from_wire(cls, shown: str, reason: str) -> "InvalidGroupIdError":
        """The error a server sent: the id itself when the text shows all of it (a string
        literal not cut at 64 characters), else the text."""
        group_id: object = shown
        if shown[:1] in ("'", '"') and not shown.endswith("..."):
            try:
                group_id = ast.literal_eval(shown)
            except (ValueError, SyntaxError):
                pass
        return cls(group_id, reason, shown=shown)


class GroupMembershipError(ConsumerGroupError, ServerError):
    """A request of the group membership protocol (join, sync, heartbeat, leave, generation
    commit) that the coordinator refused; docs/consumers.md says what a member does next."""


class UnknownMemberIdError(GroupMembershipError):
    default_hint = ("The member left or its session expired (no heartbeat within "
                    "session_timeout_ms): join the group again with an empty member id.")

    def __init__(self, group_id: str, member_id: str, *, hint: str | None = None):
        self.group_id, self.member_id = group_id, member_id
        text = f"unknown member id: {member_id} in group {group_id}"
        ServerError.__init__(self, text, hint=hint, wire=text)


class IllegalGenerationError(GroupMembershipError):
    default_hint = ("The group rebalanced since this member joined: its partitions may belong "
                    "to another member now. Join again; do not commit for the old generation.")

    def __init__(self, group_id: str, generation: int, current: int, *, hint: str | None = None):
        self.group_id, self.generation, self.current = group_id, generation, current
        text = f"illegal generation: {generation} in group {group_id} (current {current})"
        ServerError.__init__(self, text, hint=hint, wire=text)


class RebalanceInProgressError(GroupMembershipError):
    default_hint = "Commit what was processed, then join the group again to get an assignment."

    def __init__(self, group_id: str, *, hint: str | None = None):
        self.group_id = group_id
        text = f"rebalance in progress: group {group_id}"
        ServerError.__init__(self, text, hint=hint, wire=text)


class InconsistentGroupProtocolError(GroupMembershipError):
    default_hint = ("Every member of a group must offer at least one assignment strategy that "
                    "all the others offer too (range, roundrobin, sticky).")

    def __init__(self, group_id: str, offered: str, *, hint: str | None = None):
        self.group_id, self.offered = group_id, offered
        text = f"inconsistent group protocol: group {group_id} shares none of {offered}"
        ServerError.__init__(self, text, hint=hint, wire=text)


class PartitionNotAssignedError(GroupMembershipError):
    default_hint = "Commit only partitions assigned to this member in the current generation."

    def __init__(self, group_id: str, member_id: str, topic: str, partition: int, *,
                 hint: str | None = None):
        self.group_id, self.member_id = group_id, member_id
        self.topic, self.partition = topic, partition
        text = (f"partition not assigned: {topic}/{partition} is not assigned to {member_id} "
                f"in group {group_id}")
        ServerError.__init__(self, text, hint=hint, wire=text)


class GroupNotEmptyError(GroupMembershipError):
    default_hint = "Stop (close) every consumer of the group first, as Kafka requires."

    def __init__(self, group_id: str, members: int, *, hint: str | None = None):
        self.group_id, self.members = group_id, members
        text = f"group not empty: {group_id} has {members} active member(s)"
        ServerError.__init__(self, text, hint=hint, wire=text)


class TransactionError(FlyMQError):
    pass


class TransactionNotActiveError(TransactionError):
    default_hint = "Start a new transaction with begin_transaction()."

    def __init__(self, message: str = "Transaction is not active", *, hint: str | None = None):
        super().__init__(message, hint=hint)


class TransactionNotFoundError(TransactionNotActiveError):
    """No transaction has this id (never begun here, or forgotten long after it ended)."""

    default_hint = "Begin a transaction with begin_transaction() and use the id it returns."

    def __init__(self, txn_id: str, *, hint: str | None = None):
        self.txn_id = txn_id
        super().__init__(f"transaction not found: {txn_id}", hint=hint)


class TransactionRefusedError(TransactionError):
    """The broker refused a transaction operation: a limit, or another session's id. The
    hint follows from the text, so it is the same embedded and over TCP."""

    HINTS = (
        ("transaction limit reached", "Commit or roll back open transactions first, or raise "
                                      "max_open_transactions in the broker config."),
        ("transaction too large", "Split the work into smaller transactions, or raise "
                                  "max_transaction_bytes in the broker config."),
        ("transaction buffer full", "Commit or roll back open transactions, or raise "
                                    "transaction_buffer_bytes in the broker config."),
        ("belongs to another session", "A transaction can only be used by the connection or "
                                       "client that began it."),
        ("transaction offsets", "Send fewer offsets per transaction."),
    )

    def __init__(self, message: str, *, hint: str | None = None):
        if hint is None:
            hint = next((h for needle, h in self.HINTS if needle in message), None)
        super().__init__(message, hint=hint)


class TransactionTimeoutError(TransactionError):
    default_hint = "Use a longer transaction timeout or a smaller transaction."

    def __init__(self, txn_id: str, *, hint: str | None = None):
        self.txn_id = txn_id
        super().__init__(f"Transaction {txn_id} timed out", hint=hint)


class SchemaError(FlyMQError):
    pass


class SchemaNotFoundError(SchemaError, ServerError):
    default_hint = "Register the schema first with register_schema()."

    def __init__(self, schema_name: str, *, version: int | None = None, hint: str | None = None,
                 wire: str | None = None):
        self.schema_name, self.version = schema_name, version
        what = schema_name if not version else f"{schema_name} v{version}"
        ServerError.__init__(self, f"Schema not found: {what}", hint=hint,
                             wire=wire if wire is not None else f"schema not found: {what}")


class SchemaValidationError(SchemaError, ServerError):
    default_hint = "Make the message match the registered schema."

    def __init__(self, schema_name: str, errors: list[str], *, hint: str | None = None):
        self.schema_name, self.errors = schema_name, list(errors)
        ServerError.__init__(self, f"Schema validation failed for {schema_name}: {self.errors}",
                             hint=hint, wire=f"schema validation failed: [{' '.join(self.errors)}]")


def _validation_items(text: str) -> list[str]:
    """The items of a ``schema validation failed: [...]`` text. flymq's items start with the
    failing path (``$``, ``$.a[0]``, ``#3 $.a`` for the fourth record of a batch), which is
    where the space-separated list is cut; an upstream text stays one item."""
    if not text.startswith(("$", "#")):
        return [text] if text else []
    return _VALIDATION_ITEM.findall(text)


_VALIDATION_ITEM = re.compile(r"(?:#\d+ )?\$\S*: .*?(?= (?:#\d+ )?\$\S*: |\Z)", re.S)


class InvalidSchemaError(SchemaError, ServerError):
    """A schema definition that cannot be registered: unparseable, of an unknown type, or
    larger than the broker accepts."""

    default_hint = "Check the schema text and its type (json, avro or protobuf)."

    def __init__(self, detail: str, *, hint: str | None = None, wire: str | None = None):
        self.detail = detail
        ServerError.__init__(self, f"Invalid schema: {detail}", hint=hint, wire=wire if wire
                             is not None else f"failed to register schema: invalid schema "
                                              f"definition: {detail}")


class SchemaCompatibilityError(SchemaError, ServerError):
    """A new schema version that breaks the subject's compatibility mode; ``problems`` lists
    what breaks and where."""

    default_hint = ("Evolve the schema compatibly (see docs/schemas.md), or change the "
                    "subject's compatibility mode with set_schema_compatibility().")

    def __init__(self, schema_name: str, problems: list[str], *, hint: str | None = None):
        self.schema_name, self.problems = schema_name, list(problems)
        text = "; ".join(self.problems)
        ServerError.__init__(self, f"Schema {schema_name} is incompatible: {text}", hint=hint,
                             wire=f"failed to register schema: schema compatibility check "
                                  f"failed: {text}")


class ClusterError(FlyMQError):
    pass


class NotLeaderError(ClusterError, ServerError):
    default_hint = "The client redirects to the leader; retry the request."

    def __init__(self, leader_id: str | None = None, *, leader_addr: str | None = None,
                 hint: str | None = None):
        self.leader_id, self.leader_addr = leader_id, leader_addr
        text = "Not the cluster leader" + (f", current leader is {leader_id}" if leader_id else "")
        ServerError.__init__(self, text, hint=hint)


class NoAvailableServerError(ClusterError, ConnectionError):
    """No bootstrap server could be reached. Also a ``ConnectionError``, as users expect."""

    default_hint = ("Make at least one of the bootstrap servers reachable (`flymq serve` runs "
                    "a local broker on 127.0.0.1:9092).")

    def __init__(self, servers: list[str] | str, *, hint: str | None = None):
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.host = self.port = None
        FlyMQError.__init__(self, f"No available servers from: {', '.join(self.servers)}", hint=hint)


class CryptoError(FlyMQError):
    pass


class EncryptionError(CryptoError):
    default_hint = "Check the encryption key."

    def __init__(self, message: str = "Encryption failed"):
        super().__init__(message)


class DecryptionError(CryptoError):
    default_hint = "Use the key that encrypted the data."

    def __init__(self, message: str = "Decryption failed"):
        super().__init__(message)


class InvalidKeyError(CryptoError):
    default_hint = "Create a key with generate_key()."

    def __init__(self, message: str = "Invalid encryption key"):
        super().__init__(message)


class TimeoutError(FlyMQError, builtins.TimeoutError):  # noqa: A001
    """A request or a wait ran out of time; also the builtin ``TimeoutError``."""


# --- storage --------------------------------------------------------------------------------

class StorageError(ServerError):
    """The data on disk cannot be used as asked: a file the broker needs cannot be opened,
    written or created. The text names the file and the reason (``cannot <do> <path>:
    <reason>``, see ``flymq.broker.storage.files.storage_error``); the hint follows from the
    reason, so it is the same embedded and over TCP."""

    HINTS = (
        ("too many open files", "Each partition keeps its log file open: raise the open-file "
                                "limit (ulimit -n, or the hard limit that flymq raises its "
                                "own to) or use fewer partitions."),
        ("no space left on device", "Free disk space or lower retention; the broker keeps "
                                    "running and the next request tries again."),
        ("disk quota exceeded", "Raise the quota of the broker's user or free disk space; "
                                "the next request tries again."),
        ("is a directory", "Something that is not flymq's replaced the file named: move it "
                           "away; the next request tries again, without a restart."),
        ("not a directory", "A file stands where flymq needs a directory: move it away."),
        ("file exists", "A file stands where flymq needs a directory: move it away."),
        ("permission denied", "Give the broker's user read and write access to its data "
                              "directory."),
        ("read-only file system", "Remount the data directory read-write."),
    )

    def __init__(self, message: str = "", op_code: int | None = None, *,
                 hint: str | None = None, wire: str | None = None):
        if hint is None and self.default_hint is None:
            lowered = message.lower()
            hint = next((h for needle, h in self.HINTS if needle in lowered), None)
        super().__init__(message, op_code, hint=hint, wire=wire)


class FsyncFailedError(StorageError):
    """An fsync of a log failed: the log accepts no more writes until it is reopened.

    After a failed fsync the OS may have dropped the unsynced pages while marking them clean,
    so a retried fsync can succeed without the data ever reaching the disk. Refusing writes
    (instead of retrying) keeps the broker from acknowledging what it may have lost.
    """

    default_hint = ("Check the disk (space, errors in the kernel log), then restart the broker:"
                    " recovery keeps what was fsynced and checks the rest by CRC.")

    def __init__(self, log: str, detail: str, *, hint: str | None = None):
        self.log, self.detail = log, detail
        super().__init__(f"fsync failed for log {log}: {detail}; it refuses writes until reopened",
                         hint=hint)


class CorruptRecordError(StorageError):
    """Stored bytes failed their length, offset or CRC check; they are never returned as data.

    Where the reader knows them, ``topic`` and ``partition`` name the log and ``offsets``
    (first, end) the records that cannot be read, held by bytes ``position`` to
    ``end_position`` of ``path``; the records before ``first_offset`` were returned by the
    reads before this one (docs/storage-format.md, "Damage and repair").
    """

    default_hint = "The log file was damaged outside flymq; restore it or truncate the partition."

    def __init__(self, path: str, position: int, detail: str, *, hint: str | None = None,
                 topic: str | None = None, partition: int | None = None,
                 offsets: tuple[int, int] | None = None, end_position: int | None = None):
        self.path, self.position, self.detail = path, position, detail
        self.topic, self.partition, self.end_position = topic, partition, end_position
        self.first_offset, self.end_offset = offsets if offsets else (None, None)
        if offsets is None or topic is None:
            super().__init__(f"corrupt record batch in {path} at byte {position}: {detail}",
                             hint=hint)
            return
        first, end = offsets
        log = topic if partition is None else f"{topic} partition {partition}"
        super().__init__(
            f"corrupt records in {log}: offsets {first}-{end - 1} unreadable (bytes {position}-"
            f"{end_position} of {path}): {detail}",
            hint=hint or f"The records before offset {first} are intact. Seek to offset {end} to "
                         "read on past the damage (the records in between are lost), or stop "
                         "the broker and run `flymq inspect DATA_DIR --verify --repair`.")


# --- framing (protocol module errors; upstream keeps these outside FlyMQError) --------------

class ProtocolError(Exception):
    """A frame that does not follow protocol v1."""

    __reduce__ = _reduce_from_state


class InvalidMagicError(ProtocolError, ValueError):
    def __init__(self, received: int):
        self.received = received
        super().__init__(f"Invalid magic byte: 0x{received:02x}")


class InvalidVersionError(ProtocolError):
    def __init__(self, received: int):
        self.received = received
        super().__init__(f"Unsupported protocol version: {received}")


class FrameTooLargeError(ProtocolError):
    """``pyflymq.protocol.MessageTooLargeError``: a frame over the 32 MiB limit."""

    def __init__(self, size: int):
        self.size = size
        super().__init__(f"Message size {size} exceeds maximum {MAX_FRAME_PAYLOAD}")


# --- wire text <-> exception ------------------------------------------------------------------

def wire_text(exc: BaseException) -> str:
    """The text the server sends in an ERROR frame for ``exc``."""
    if isinstance(exc, FlyMQError):
        return exc.wire
    return f"internal error: {type(exc).__name__}: {exc}"


def _int(s: str) -> int:
    return int(s)


# (pattern, factory(match, context)) tried in order; the first match wins.
_WIRE_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str], dict], FlyMQError]]] = [
    # An unexpected exception in the server (see wire_text): its text is arbitrary, so it must
    # not fall through to the patterns below (a TypeError's "not supported" is no missing op).
    (re.compile(r"^internal error\b"),
     lambda m, c: ServerError(m.string)),
    (re.compile(r"^topic not found(?:: (?P<t>.*))?$", re.S),
     lambda m, c: TopicNotFoundError(m["t"] if m["t"] is not None else c.get("topic", ""),
                                     wire=m[0])),
    (re.compile(r"^EOF$"),
     lambda m, c: OffsetOutOfRangeError(c.get("topic", ""), c.get("offset", -1),
                                        partition=c.get("partition"))),
    (re.compile(r"^partition (?P<p>-?\d+) (?P<s>out of range|not found)$"),
     lambda m, c: PartitionNotFoundError(c.get("topic", ""), _int(m["p"]), style=m["s"])),
    (re.compile(r"^invalid topic name: (?P<t>.*)$", re.S),
     lambda m, c: InvalidTopicNameError(m["t"])),
    (re.compile(r"^message too large(?:: (?P<n>\d+) bytes exceeds maximum (?P<m>\d+) bytes)?"),
     lambda m, c: MessageTooLargeError(_int(m["n"] or 0), _int(m["m"] or MAX_FRAME_PAYLOAD))),
    (re.compile(r"^out of order sequence: producer (?P<id>-?\d+) on (?P<w>.*) expected "
                r"sequence (?P<e>-?\d+), got (?P<r>-?\d+)$", re.S),
     lambda m, c: OutOfOrderSequenceError(_int(m["id"]), m["w"], _int(m["e"]), _int(m["r"]))),
    (re.compile(r"^transaction not found: (?P<id>.*)$", re.S),
     lambda m, c: TransactionNotFoundError(m["id"])),
    (re.compile(r"^transaction is not active\b"),
     lambda m, c: TransactionNotActiveError(m.string)),
    (re.compile(r"^transaction "),
     lambda m, c: TransactionRefusedError(m.string)),
    (re.compile(r"^consumer group not found: (?P<t>[^:]*):(?P<g>.*)$", re.S),
     lambda m, c: ConsumerGroupNotFoundError(m["t"], m["g"])),
    (re.compile(r"^invalid group id (?P<g>.*): (?P<r>.*)$", re.S),
     lambda m, c: InvalidGroupIdError.from_wire(m["g"], m["r"])),
    (re.compile(r"^unknown member id: (?P<m>.*) in group (?P<g>.*)$", re.S),
     lambda m, c: UnknownMemberIdError(m["g"], m["m"])),
    (re.compile(r"^illegal generation: (?P<n>-?\d+) in group (?P<g>.*) \(current (?P<c>-?\d+)\)$",
                re.S),
     lambda m, c: IllegalGenerationError(m["g"], _int(m["n"]), _int(m["c"]))),
    (re.compile(r"^rebalance in progress: group (?P<g>.*)$", re.S),
     lambda m, c: RebalanceInProgressError(m["g"])),
    (re.compile(r"^inconsistent group protocol: group (?P<g>.*) shares none of (?P<o>.*)$", re.S),
     lambda m, c: InconsistentGroupProtocolError(m["g"], m["o"])),
    (re.compile(r"^partition not assigned: (?P<t>.*)/(?P<p>\d+) is not assigned to (?P<m>.*) "
                r"in group (?P<g>.*)$", re.S),
     lambda m, c: PartitionNotAssignedError(m["g"], m["m"], m["t"], _int(m["p"]))),
    (re.compile(r"^group not empty: (?P<g>.*) has (?P<n>\d+) active member\(s\)$", re.S),
     lambda m, c: GroupNotEmptyError(m["g"], _int(m["n"]))),
    # upstream's unknown-opcode text, and what flymq's server says for features it lacks yet
    (re.compile(r"^unknown opcode: \d+$|^[\w ]+ is not supported yet by this flymq server$"),
     lambda m, c: UnsupportedOperationError(m.string)),
    (re.compile(r"not leader", re.I),
     lambda m, c: NotLeaderError(_leader_id(m.string), leader_addr=_leader_addr(m.string))),
    (re.compile(r"^schema validation failed: \[(?P<e>.*)\]$", re.S),
     lambda m, c: SchemaValidationError(c.get("schema", ""), _validation_items(m["e"]))),
    (re.compile(r"^failed to register schema: schema compatibility check failed: (?P<p>.*)$",
                re.S),
     lambda m, c: SchemaCompatibilityError(c.get("schema", ""), m["p"].split("; "))),
    (re.compile(r"^failed to register schema: invalid schema definition: (?P<d>.*)$|"
                r"^unsupported schema type: ", re.S),
     lambda m, c: InvalidSchemaError(m["d"] or m.string, wire=m.string)),
    (re.compile(r"^(?:failed to delete schema: )?schema not found: (?P<n>.*?)(?: v(?P<v>\d+))?$|"
                r"^no schema found for topic: (?P<n2>.*)$", re.S),
     lambda m, c: SchemaNotFoundError(m["n"] or m["n2"] or "", wire=m[0],
                                      version=int(m["v"]) if m["v"] else None)),
    (re.compile(r"^corrupt records in (?P<t>.*?)(?: partition (?P<p>\d+))?: offsets (?P<a>\d+)-"
                r"(?P<b>\d+) unreadable \(bytes (?P<x>\d+)-(?P<y>\d+) of (?P<f>.*?)\): (?P<d>.*)$",
                re.S),
     lambda m, c: CorruptRecordError(m["f"], _int(m["x"]), m["d"], topic=m["t"],
                                     partition=_int(m["p"]) if m["p"] else None,
                                     offsets=(_int(m["a"]), _int(m["b"]) + 1),
                                     end_position=_int(m["y"]))),
    (re.compile(r"^corrupt record batch in (?P<f>.*?) at byte (?P<x>\d+): (?P<d>.*)$", re.S),
     lambda m, c: CorruptRecordError(m["f"], _int(m["x"]), m["d"])),
    (re.compile(r"^fsync failed for log (?P<l>.*?): (?P<d>.*); it refuses writes until reopened$",
                re.S),
     lambda m, c: FsyncFailedError(m["l"], m["d"])),
    (re.compile(r"^cannot (?:append to|start a segment in|open|write|create|delete|lock|use|"
                r"accept) .*$", re.S),  # StorageError's texts: a full disk, no descriptor, ...
     lambda m, c: StorageError(m.string)),
    (re.compile(r"^(authentication required|unauthorized|user account is disabled)"),
     lambda m, c: AuthorizationError(m.string)),
    (re.compile(r"^delayed message (?P<i>.*?) (?P<s>not found|was already delivered or "
                r"cancelled)$", re.S),
     lambda m, c: DelayedMessageNotFoundError(m["i"], m["s"])),
    (re.compile(r"^delay \S+ exceeds maximum allowed delay \S+$"),
     lambda m, c: InvalidRequestError(m.string)),
    (re.compile(r"^(buffer too small|invalid binary format|invalid |unknown (subscribe|reset) mode)"),
     lambda m, c: InvalidRequestError(m.string)),
]


def _leader_id(text: str) -> str | None:
    marker = "current leader is"
    return text.rsplit(marker, 1)[1].strip() or None if marker in text else None


def _leader_addr(text: str) -> str | None:
    m = re.search(r"leader_addr=(\S+)", text)
    return m.group(1) if m else None


def error_from_wire(text: str, **context) -> FlyMQError:
    """The most specific exception for an ERROR frame text.

    ``context`` supplies what the text leaves out (``topic``, ``partition``, ``offset``,
    ``schema``) so that, for example, a bare ``EOF`` becomes an ``OffsetOutOfRangeError``
    that names the topic and offset the caller asked for.
    """
    for pattern, factory in _WIRE_PATTERNS:
        m = pattern.search(text)
        if m:
            return factory(m, context)
    return ServerError(text)
