"""The embedded transport: direct calls into a :class:`~flymq.broker.Broker` in this process.

No socket and no encoding, but the same results and exceptions as over TCP. Values are copied
to ``bytes`` on the way in, so a caller's buffer is never shared with the log.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any, Callable, Sequence

from flymq.client.transport import Transport
from flymq.models import AuthResponse, RecordMetadata, WhoAmIResponse

if TYPE_CHECKING:
    from flymq.broker import Broker


def _forward(name: str) -> Callable[..., Any]:
    def method(self: "LocalTransport", *args: Any, **kwargs: Any) -> Any:
        return getattr(self.broker, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``Broker.{name}``."
    return method


class LocalTransport(Transport):
    """Forwards to ``broker``; closing it releases this member, never the broker."""

    def __init__(self, broker: "Broker"):
        self.broker = broker
        self.member = f"local-{uuid.uuid4().hex[:12]}"
        self._subscribed = False
        self._user: str | None = None

    def close(self) -> None:
        if self._subscribed and not self.broker.closed:
            self._subscribed = False
            self.broker.member_left(self.member)

    # The broker copies any value or key that is not ``bytes`` itself.
    def produce(self, topic: str, value: bytes, key: bytes | None = None, partition: int = -1,
                *, headers: dict[str, str] | None = None, timestamp: int | None = None,
                compression_type: str = "none") -> RecordMetadata:
        return self.broker.produce(topic, value, key, partition, headers=headers,
                                   timestamp=timestamp)

    def produce_batch(self, topic: str, records: Sequence[tuple[bytes | None, bytes, int]]
                      ) -> Sequence[RecordMetadata]:
        return self.broker.produce_batch(topic, records)

    def append_batch(self, topic: str, records: Sequence[tuple[bytes | None, bytes, int]], *,
                     producer: tuple[int, int, int] | None = None,
                     compression_type: str = "none") -> tuple[int, list[tuple[int, int]]]:
        """No wire to compress here: ``lz4`` compresses the stored batch, ``gzip`` is a
        frame codec and leaves the topic's codec in charge."""
        return self.broker.append_batch(topic, records, producer=producer,
                                        compression="lz4" if compression_type == "lz4" else None)

    def init_producer_id(self) -> tuple[int, int] | None:
        return self.broker.init_producer_id()

    def wait_for_records(self, positions: Sequence[tuple[str, int, int]], timeout_s: float,
                         wake: threading.Event) -> None:
        """Watches every position at once: the first record on any of them ends the wait."""
        cancels: list[Callable[[], None]] = []
        try:
            for topic, partition, offset in positions:
                cancels.append(self.broker.watch(topic, partition, offset, wake.set))
            wake.wait(timeout_s)
        finally:
            for cancel in cancels:
                cancel()

    def _every_topic(self) -> list[str]:
        return self.broker.list_topics(include_internal=True)  # as CLUSTER_METADATA (§6.6.4)

    def subscribe(self, topic: str, group_id: str, partition: int = 0,
                  mode: str = "latest") -> int:
        offset = self.broker.subscribe(topic, group_id, partition, mode, member=self.member)
        self._subscribed = True
        return offset

    # The broker has no users yet; like the TCP server, accept any credentials and remember
    # the name. (This moves into the Broker facade with the auth issue.)
    def authenticate(self, username: str, password: str) -> AuthResponse:
        self._user = username
        return AuthResponse(True, username=username)

    def whoami(self) -> WhoAmIResponse:
        return WhoAmIResponse(self._user is not None, self._user)

    create_topic = _forward("create_topic")
    delete_topic = _forward("delete_topic")
    list_topics = _forward("list_topics")
    topic_metadata = _forward("topic_metadata")
    partition_count = _forward("partition_count")
    consume = _forward("consume")
    fetch = _forward("fetch")
    offsets = _forward("offsets")
    offset_for_timestamp = _forward("offset_for_timestamp")
    commit_offset = _forward("commit_offset")
    get_committed_offset = _forward("get_committed_offset")
    reset_offset = _forward("reset_offset")
    get_lag = _forward("get_lag")
    list_consumer_groups = _forward("list_consumer_groups")
    describe_consumer_group = _forward("describe_consumer_group")
    delete_consumer_group = _forward("delete_consumer_group")
    server_info = _forward("server_info")
