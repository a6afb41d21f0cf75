"""The embedded transport: direct calls into a :class:`~flymq.broker.Broker` in this process.

No socket and no encoding, but the same results and exceptions as over TCP. Every call goes
through the client's own :class:`~flymq.broker.session.Session`, as a TCP connection's does.
Values are copied to ``bytes`` on the way in, so a caller's buffer is never shared with the
log.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any, Callable, Sequence

from flymq.broker.appends import AppendRequest
from flymq.client.transport import Transport
from flymq.errors import FlyMQError
from flymq.models import RecordMetadata

if TYPE_CHECKING:
    from flymq.broker import Broker


def _forward(name: str) -> Callable[..., Any]:
    def method(self: "LocalTransport", *args: Any, **kwargs: Any) -> Any:
        return getattr(self.session, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``Broker.{name}``, through this client's session."
    return method


class LocalTransport(Transport):
    """Calls ``broker`` through a session of its own; closing the transport closes the
    session (leaving its groups), never the broker."""

    def __init__(self, broker: "Broker"):
        self.broker = broker
        self.clock = broker.clock
        self.session = broker.open_session(client_id=f"local-{uuid.uuid4().hex[:12]}")

    def close(self) -> None:
        self.session.close()

    def supports(self, feature: str) -> bool:
        return feature in self.session.features

    # The broker copies any value or key that is not ``bytes`` itself.
    def produce(self, topic: str, value: bytes, key: bytes | None = None, partition: int = -1,
                *, headers: dict[str, str] | None = None, timestamp: int | None = None,
                compression_type: str = "none") -> RecordMetadata:
        return self.session.produce(topic, value, key, partition, headers=headers,
                                    timestamp=timestamp)

    def append_batch(self, topic: str, records: Sequence[tuple[bytes | None, bytes, int]], *,
                     producer: tuple[int, int, int] | None = None,
                     compression_type: str = "none") -> tuple[int, list[tuple[int, int]]]:
        """No wire to compress here: ``lz4`` compresses the stored batch, ``gzip`` is a
        frame codec and leaves the topic's codec in charge."""
        result = self.session.append(AppendRequest(
            topic, records, producer=producer,
            compression="lz4" if compression_type == "lz4" else None))
        return result.timestamp, result.placements

    def produce_with_schema(self, topic: str, value: bytes, schema_name: str, *,
                            version: int = 0) -> RecordMetadata:
        # not _forward: a hot path, and its keyword would cost a dict per call
        return self.session.produce_with_schema(topic, value, schema_name, version=version)

    def wait_for_records(self, positions: Sequence[tuple[str, int, int]], timeout_s: float,
                         wake: threading.Event) -> list[tuple[str, int]] | None:
        """Watches every position at once: the first record on any of them ends the wait;
        returns the partitions whose watch fired."""
        cancels: list[Callable[[], None]] = []
        ready: list[tuple[str, int]] = []

        def fired(topic: str, partition: int) -> Callable[[], None]:
            def callback() -> None:
                ready.append((topic, partition))
                wake.set()
            return callback

        try:
            for topic, partition, offset in positions:
                cancels.append(self.session.watch(topic, partition, offset,
                                                  fired(topic, partition)))
            wake.wait(timeout_s)
        finally:
            for cancel in cancels:
                cancel()
        return list(ready)


    def ready_partitions(self, positions: Sequence[tuple[str, int, int]]
                         ) -> list[tuple[str, int]] | None:
        ready = []
        for topic, partition, offset in positions:
            try:
                if self.session.offsets(topic, partition)[1] != offset:
                    ready.append((topic, partition))
            except FlyMQError:   # gone: the fetch reports it
                ready.append((topic, partition))
        return ready

    def list_delayed(self, topic: str, limit: int = 1000) -> tuple[int, list[dict[str, Any]]]:
        return (self.session.count_delayed(topic),
                self.session.list_delayed(topic, limit))

    def _every_topic(self) -> list[str]:
        return self.session.list_topics(include_internal=True)  # as CLUSTER_METADATA (§6.6.4)

    create_topic = _forward("create_topic")
    delete_topic = _forward("delete_topic")
    list_topics = _forward("list_topics")
    topic_metadata = _forward("topic_metadata")
    partition_count = _forward("partition_count")
    describe_topic = _forward("describe_topic")
    produce_batch = _forward("produce_batch")
    init_producer_id = _forward("init_producer_id")
    consume = _forward("consume")
    fetch = _forward("fetch")
    offsets = _forward("offsets")
    offset_for_timestamp = _forward("offset_for_timestamp")
    subscribe = _forward("subscribe")
    commit_offset = _forward("commit_offset")
    get_committed_offset = _forward("get_committed_offset")
    reset_offset = _forward("reset_offset")
    get_lag = _forward("get_lag")
    list_consumer_groups = _forward("list_consumer_groups")
    describe_consumer_group = _forward("describe_consumer_group")
    delete_consumer_group = _forward("delete_consumer_group")
    join_group = _forward("join_group")
    sync_group = _forward("sync_group")
    heartbeat = _forward("heartbeat")
    leave_group = _forward("leave_group")
    commit_group_offsets = _forward("commit_group_offsets")
    fetch_group_offsets = _forward("fetch_group_offsets")
    list_groups = _forward("list_groups")
    describe_group = _forward("describe_group")
    delete_group = _forward("delete_group")
    server_info = _forward("server_info")
    begin_transaction = _forward("begin_transaction")
    produce_transactional = _forward("produce_transactional")
    produce_transactional_batch = _forward("produce_transactional_batch")
    send_offsets_to_transaction = _forward("send_offsets_to_transaction")
    commit_transaction = _forward("commit_transaction")
    abort_transaction = _forward("abort_transaction")
    authenticate = _forward("authenticate")
    register_schema = _forward("register_schema")
    get_schema = _forward("get_schema")
    describe_schema = _forward("describe_schema")
    list_schemas = _forward("list_schemas")
    validate_schema = _forward("validate_schema")
    delete_schema = _forward("delete_schema")
    get_schema_compatibility = _forward("get_schema_compatibility")
    set_schema_compatibility = _forward("set_schema_compatibility")
    whoami = _forward("whoami")
    produce_with_ttl = _forward("produce_with_ttl")
    produce_delayed = _forward("produce_delayed")
    cancel_delayed = _forward("cancel_delayed")
    dead_letter = _forward("dead_letter")
    fetch_dlq = _forward("fetch_dlq")
    replay_dlq = _forward("replay_dlq")
    re_inject_dlq = _forward("re_inject_dlq")
    purge_dlq = _forward("purge_dlq")
