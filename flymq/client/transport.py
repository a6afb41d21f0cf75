"""The one interface between ``FlyMQClient`` and a broker, wherever that broker runs.

``FlyMQClient`` holds one :class:`Transport` and calls nothing else, so every client feature
works the same embedded (:class:`~flymq.client.local.LocalTransport`, direct calls) and over
the network (:class:`~flymq.client.tcp.TcpTransport`, protocol v1 frames).

The core methods are the Broker facade of ``docs/architecture.md``: same names, arguments and
results (values are ``bytes``; errors are the classes of :mod:`flymq.errors`). Broker-internal
methods (``watch``, ``member_left``, ``client``, ``lookup``) are left out: a transport tracks
its own membership and releases it in :meth:`Transport.close`.

Features of later issues have default bodies here that raise
``UnsupportedOperationError("<feature> is not supported yet by this flymq server")``: a
transport overrides the ones it can forward and says so in :meth:`Transport.supports`.
"""

from __future__ import annotations

import abc
import threading
from typing import TYPE_CHECKING, Any, Sequence

from flymq.errors import TopicNotFoundError
from flymq.clock import SYSTEM_CLOCK, Clock
from flymq.features import not_supported
from flymq.models import (
    AuthResponse, ClusterMetadata, ConsumedMessage, DLQMessage, FetchResult, JoinResult,
    PartitionInfo, RecordMetadata, TopicMetadata, TopicPartitionInfo, WhoAmIResponse,
)

if TYPE_CHECKING:
    from flymq.models import SchemaInfo
    from flymq.topic_config import TopicConfig



class Transport(abc.ABC):
    """A connection to one broker (or cluster). Thread-safe; ``close()`` is idempotent."""

    clock: Clock = SYSTEM_CLOCK
    """The broker's time as this side can read it: the system's, unless the broker is in this
    process (then its own clock, so client-side timing follows a test's ManualClock)."""

    # --- lifecycle -----------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection (never the broker itself)."""

    def supports(self, feature: str) -> bool:
        """Whether this transport can serve ``feature`` (one of ``flymq.features.KNOWN``)."""
        return False

    # --- topics --------------------------------------------------------------------------
    @abc.abstractmethod
    def create_topic(self, topic: str, partitions: int = 1, *,
                     config: "TopicConfig | None" = None) -> bool: ...
    @abc.abstractmethod
    def delete_topic(self, topic: str) -> bool: ...
    @abc.abstractmethod
    def list_topics(self) -> list[str]: ...
    @abc.abstractmethod
    def topic_metadata(self, topic: str) -> TopicMetadata: ...
    @abc.abstractmethod
    def partition_count(self, topic: str) -> int: ...

    def describe_topic(self, topic: str) -> dict[str, Any]:
        """``Broker.describe_topic``. This default asks what every server answers (partition
        count, offsets), so ``size_bytes`` and ``config`` are None: a transport that can ask
        the broker itself overrides it."""
        count = self.partition_count(topic)
        if not count:  # a topic has at least one partition: upstream lists none when missing
            raise TopicNotFoundError(topic)
        partitions = []
        for p in range(count):
            start, end = self.offsets(topic, p)
            partitions.append({"partition": p, "start_offset": start, "end_offset": end,
                               "size_bytes": None})
        return {"name": topic, "partitions": partitions, "config": None}

    # --- produce -------------------------------------------------------------------------
    @abc.abstractmethod
    def produce(self, topic: str, value: bytes, key: bytes | None = None, partition: int = -1,
                *, headers: dict[str, str] | None = None, timestamp: int | None = None,
                compression_type: str = "none") -> RecordMetadata:
        """Append one record; ``partition=-1`` lets the broker choose (key hash or round-robin).

        ``compression_type`` is a wire matter (``"gzip"`` compresses the frame); an embedded
        transport ignores it.
        """

    @abc.abstractmethod
    def produce_batch(self, topic: str, records: Sequence[tuple[bytes | None, bytes, int]]
                      ) -> Sequence[RecordMetadata]:
        """``(key, value, partition)`` triples, validated all-or-nothing; results in record
        order (a :class:`~flymq.models.RecordMetadataList` where the reply allows)."""

    def append_batch(self, topic: str, records: Sequence[tuple[bytes | None, bytes, int]], *,
                     producer: tuple[int, int, int] | None = None,
                     compression_type: str = "none") -> tuple[int, list[tuple[int, int]]]:
        """:meth:`produce_batch` for the producers' engine: ``(timestamp, [(partition,
        offset)])`` in record order, so that result objects are built only when asked for.

        ``producer`` is ``(producer_id, epoch, base_sequence)`` from :meth:`init_producer_id`
        (the records then name one partition and the broker appends the batch at most once);
        ``compression_type`` is what the transport can do with it (see docs/producers.md).
        This default serves neither: it is the at-least-once path of a broker without them.
        """
        metas = self.produce_batch(topic, records)
        return (metas[0].timestamp if metas else 0), [(m.partition, m.offset) for m in metas]

    def init_producer_id(self) -> tuple[int, int] | None:
        """A new ``(producer_id, epoch)`` for an idempotent producer, or None when the broker
        cannot deduplicate (the producer then delivers at least once)."""
        return None

    # --- read ----------------------------------------------------------------------------
    @abc.abstractmethod
    def consume(self, topic: str, partition: int, offset: int) -> ConsumedMessage: ...
    @abc.abstractmethod
    def fetch(self, topic: str, partition: int = 0, offset: int = 0, max_messages: int = 10,
              filter: str = "", *, max_bytes: int | None = None,
              max_wait_ms: int = 0) -> FetchResult: ...

    def wait_for_records(self, positions: Sequence[tuple[str, int, int]], timeout_s: float,
                         wake: threading.Event) -> list[tuple[str, int]] | None:
        """Wait until ``wake`` is set, at most ``timeout_s``; a transport that can watch the
        ``(topic, partition, offset)`` positions also sets it when a record at or past one of
        them exists, and returns the ``(topic, partition)`` pairs it saw with records (None:
        it cannot tell). Callers wait in short steps.

        This default only waits: a long-poll FETCH would hold a TCP client's one connection,
        and so delay every other thread's request on the same client, for the whole wait.
        """
        wake.wait(timeout_s)
        return None


    def ready_partitions(self, positions: Sequence[tuple[str, int, int]]
                         ) -> list[tuple[str, int]] | None:
        """The ``(topic, partition)`` of each position where a fetch would find something
        (a record, or a position outside the log), asked at once; None: cannot tell."""
        return None

    @abc.abstractmethod
    def offsets(self, topic: str, partition: int) -> tuple[int, int]:
        """``(start, end)``: first retained offset and the offset the next record gets."""

    @abc.abstractmethod
    def offset_for_timestamp(self, topic: str, partition: int, timestamp_ms: int) -> int: ...

    # --- consumer groups (committed offset = next offset to read) ----------------------------
    @abc.abstractmethod
    def subscribe(self, topic: str, group_id: str, partition: int = 0,
                  mode: str = "latest") -> int: ...
    @abc.abstractmethod
    def commit_offset(self, topic: str, group_id: str, partition: int, offset: int) -> None: ...
    @abc.abstractmethod
    def get_committed_offset(self, topic: str, group_id: str, partition: int = 0) -> int: ...
    @abc.abstractmethod
    def reset_offset(self, topic: str, group_id: str, partition: int = 0,
                     mode: str = "earliest", offset: int | None = None) -> None: ...
    @abc.abstractmethod
    def get_lag(self, topic: str, group_id: str, partition: int = 0) -> dict[str, int]: ...
    @abc.abstractmethod
    def list_consumer_groups(self, topic: str = "") -> list[dict]: ...
    @abc.abstractmethod
    def describe_consumer_group(self, topic: str, group_id: str) -> dict: ...
    @abc.abstractmethod
    def delete_consumer_group(self, topic: str, group_id: str) -> None: ...
    @abc.abstractmethod
    def server_info(self) -> dict: ...

    # --- [ext] group membership ("groups": join, sync, heartbeat, leave, generations) ------
    def join_group(self, group_id: str, member_id: str = "", *, client_id: str = "",
                   topics: Sequence[str] = (), strategies: Sequence[str] = ("range",),
                   session_timeout_ms: int = 30_000,
                   rebalance_timeout_ms: int = 300_000) -> JoinResult:
        raise not_supported("groups")

    def sync_group(self, group_id: str, member_id: str,
                   generation: int) -> list[tuple[str, int]]:
        raise not_supported("groups")

    def heartbeat(self, group_id: str, member_id: str, generation: int) -> None:
        raise not_supported("groups")

    def leave_group(self, group_id: str, member_id: str) -> None:
        raise not_supported("groups")

    def commit_group_offsets(self, group_id: str, offsets: Sequence[tuple[str, int, int]], *,
                             member_id: str = "", generation: int = -1) -> None:
        raise not_supported("groups")

    def fetch_group_offsets(self, group_id: str) -> dict[tuple[str, int], int]:
        raise not_supported("groups")

    def list_groups(self) -> list[str]:
        raise not_supported("groups")

    def describe_group(self, group_id: str) -> dict:
        raise not_supported("groups")

    def delete_group(self, group_id: str) -> None:
        raise not_supported("groups")

    # --- cluster: one node unless a transport knows better -------------------------------
    def cluster_metadata(self, topic: str = "") -> ClusterMetadata:
        """Partition leaders; a single broker leads every partition itself."""
        topics = [topic] if topic else self._every_topic()
        return ClusterMetadata(cluster_id="standalone", topics=[
            TopicPartitionInfo(t, [PartitionInfo(p, "local", "", 1, "online", ["local"], ["local"])
                                   for p in range(self.partition_count(t))])
            for t in topics])

    def _every_topic(self) -> list[str]:
        """Names for "all topics" metadata; ``__`` names too where the transport can see them."""
        return self.list_topics()

    def cluster_join(self, peer_addr: str) -> None:
        raise not_supported("cluster")

    def cluster_leave(self) -> None:
        raise not_supported("cluster")

    # --- later issues --------------------------------------------------------------------
    def produce_delayed(self, topic: str, value: bytes, delay_ms: int, *,
                        key: bytes | None = None, partition: int = -1,
                        headers: dict[str, str] | None = None) -> RecordMetadata:
        """A record delivered ``delay_ms`` from now; a flymq broker's result is a
        ``DelayedRecordMetadata`` whose ``delay_id`` :meth:`cancel_delayed` takes."""
        raise not_supported("delayed")

    def cancel_delayed(self, delay_id: str) -> None:
        raise not_supported("delayed")

    def list_delayed(self, topic: str, limit: int = 1000) -> tuple[int, list[dict[str, Any]]]:
        """(pending count of ``topic``, up to ``limit`` pending entries in due order)."""
        raise not_supported("delayed")


    def produce_with_ttl(self, topic: str, value: bytes, ttl_ms: int) -> RecordMetadata:
        raise not_supported("ttl")

    def produce_with_schema(self, topic: str, value: bytes, schema_name: str, *,
                            version: int = 0) -> RecordMetadata:
        """Append ``value`` once the broker validated it against ``schema_name`` (its
        latest version, or ``version``)."""
        raise not_supported("schemas")

    def register_schema(self, name: str, schema_type: str, schema: bytes) -> int:
        """The version registered (or the existing one with the same definition)."""
        raise not_supported("schemas")

    def describe_schema(self, name: str, version: int = 0) -> "SchemaInfo":
        """A version with its definition and the subject's compatibility mode."""
        raise not_supported("schemas")

    def get_schema_compatibility(self, name: str = "") -> str:
        raise not_supported("schemas")

    def set_schema_compatibility(self, mode: str, name: str = "") -> str:
        raise not_supported("schemas")

    def get_schema(self, name: str, version: int = 0) -> dict[str, Any]:
        raise not_supported("schemas")

    def list_schemas(self, topic: str = "") -> list[dict[str, Any]]:
        raise not_supported("schemas")

    def validate_schema(self, name: str, value: bytes) -> bool:
        raise not_supported("schemas")

    def delete_schema(self, name: str, version: int) -> None:
        raise not_supported("schemas")

    def begin_transaction(self) -> str:
        """A new transaction id."""
        raise not_supported("transactions")

    def commit_transaction(self, txn_id: str) -> None:
        raise not_supported("transactions")

    def abort_transaction(self, txn_id: str) -> None:
        raise not_supported("transactions")

    def produce_transactional(self, txn_id: str, topic: str, value: bytes) -> RecordMetadata:
        raise not_supported("transactions")

    #: Whether :meth:`produce_transactional_batch` can begin a transaction under an id the
    #: client picked (``begin=True``), so that beginning one needs no call of its own.
    picks_txn_ids: bool = False

    def produce_transactional_batch(self, txn_id: str, records: Sequence[tuple[str, bytes]],
                                    commit: bool = False, begin: bool = False) -> None:
        """``(topic, value)`` records added to the transaction, then its commit if
        ``commit``; ``begin`` (where :attr:`picks_txn_ids`): begin it first under
        ``txn_id``. Here one call each, what a server without a batch operation takes."""
        if begin:
            raise not_supported("transactions with client-picked ids")
        for topic, value in records:
            self.produce_transactional(txn_id, topic, value)
        if commit:
            self.commit_transaction(txn_id)

    def send_offsets_to_transaction(self, txn_id: str, group_id: str,
                                    offsets: Sequence[tuple[str, int, int]]) -> None:
        raise not_supported("transactions")

    def fetch_dlq(self, topic: str, max_messages: int = 10, offset: int = 0
                  ) -> list[DLQMessage]:
        raise not_supported("dlq")

    def dead_letter(self, topic: str, partition: int, offset: int, *,
                    reason: str = "processing_error", error: str = "", retry_count: int = 0,
                    first_failed_at: int | None = None) -> str:
        """Copy a stored record into its topic's DLQ; the entry id."""
        raise not_supported("dlq")


    def replay_dlq(self, topic: str, message_id: str) -> None:
        raise not_supported("dlq")

    def re_inject_dlq(self, topic: str, offset: int) -> bool:
        raise not_supported("dlq")

    def purge_dlq(self, topic: str) -> None:
        raise not_supported("dlq")

    def authenticate(self, username: str, password: str) -> AuthResponse:
        raise not_supported("auth")

    def whoami(self) -> WhoAmIResponse:
        raise not_supported("auth")
