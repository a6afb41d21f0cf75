"""Settings of the broker core, as plain typed dataclasses.

The server's TOML/environment loader fills these by field name, so every field is a simple
value with a default. Values are checked in ``__post_init__`` so a bad setting fails when the
broker is configured, not on the first request that needs it. ``TopicConfig`` is defined in
:mod:`flymq.topic_config` (the client builds one too) and is part of these settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flymq.wire_limits import MAX_FRAME_PAYLOAD
from flymq.broker.schemas.compatibility import MODES as COMPATIBILITY_MODES
from flymq.topic_config import (
    COMPRESSIONS, FSYNC_POLICIES, MIN_SEGMENT_BYTES, TopicConfig, check_choice, check_positive,
)

__all__ = ["BrokerConfig", "TopicConfig"]


@dataclass
class BrokerConfig:
    """Settings of one broker: where data lives, topic policy and log defaults."""

    data_dir: str | None = None
    """Directory holding all topics and group offsets; None = a temporary directory removed on
    close (unless the Broker constructor is given one)."""
    auto_create_topics: bool = True
    """Create a missing topic when something is produced to it (upstream behaviour)."""
    default_partitions: int = 1
    """Partitions of an auto-created topic (upstream uses 1)."""
    max_partitions_per_topic: int = 10_000
    """Upper bound accepted by create_topic."""
    max_message_bytes: int = MAX_FRAME_PAYLOAD - 1024
    """Largest key + value accepted by produce (the wire frame limit minus request overhead)."""
    fetch_max_bytes: int = 16 * 1024 * 1024
    """Default byte budget of one fetch, so a reply always fits a protocol frame."""
    max_schema_bytes: int = 1024 * 1024
    """Largest schema definition register_schema accepts (docs/schemas.md)."""
    schema_compatibility: str = "backward"
    """Compatibility mode of subjects that set none, until set_schema_compatibility changes
    it: none, backward, forward, full or one of the *_transitive forms."""
    fsync: str = "interval"
    """"always": every produce waits for an fsync (group commit); "interval": a flusher thread
    fsyncs every fsync_interval_ms; "never": the operating system decides."""
    fsync_interval_ms: int = 200
    """Flush period of the "interval" policy."""
    segment_bytes: int = 64 * 1024 * 1024
    """Roll to a new segment file after this many bytes."""
    segment_ms: int = 7 * 24 * 3600 * 1000
    """Roll to a new segment file after this many milliseconds."""
    retention_ms: int | None = None
    """Delete whole segments older than this; None keeps data forever (upstream default)."""
    retention_bytes: int | None = None
    """Delete the oldest segments while a partition is larger than this; None = no limit."""
    group_min_session_timeout_ms: int = 6_000
    """Shortest consumer session timeout a group member may ask for (Kafka's default)."""
    group_max_session_timeout_ms: int = 1_800_000
    """Longest consumer session timeout a group member may ask for (Kafka's default)."""
    group_metadata_refresh_ms: int = 1_000
    """How often (broker clock) groups look for created or deleted topics that match their
    subscriptions (wildcards); a change starts a rebalance."""
    compression: str = "none"
    """Batch compression of appends: "none" or "lz4"."""
    retention_check_interval_ms: int = 60_000
    """How often (on the broker's clock) old segments are checked against retention limits."""
    max_delay_ms: int = 365 * 24 * 3600 * 1000
    """Longest delay ``produce_delayed`` accepts (upstream: 24 h)."""
    max_ttl_ms: int = 10 * 365 * 24 * 3600 * 1000
    """Longest time to live ``produce_with_ttl`` and a topic's ``ttl_ms`` accept."""
    transaction_timeout_ms: int = 60_000
    """A transaction idle this long is aborted (docs/transactions.md)."""
    transaction_max_timeout_ms: int = 900_000
    """The largest timeout a transaction may ask for."""
    max_open_transactions: int = 10_000
    """Open transactions the broker holds at once; BEGIN beyond it is refused."""
    max_transaction_bytes: int = 16 * 1024 * 1024
    """Bytes one transaction may buffer until it commits."""
    transaction_buffer_bytes: int = 256 * 1024 * 1024
    """Bytes all open transactions together may buffer in broker memory."""

    def __post_init__(self) -> None:
        if self.data_dir is not None:
            self.data_dir = str(Path(self.data_dir))
        if not isinstance(self.auto_create_topics, bool):  # "no" would be truthy
            raise ValueError(f"auto_create_topics must be True or False; "
                             f"got {self.auto_create_topics!r}")
        check_choice("fsync", self.fsync, FSYNC_POLICIES)
        check_choice("compression", self.compression, COMPRESSIONS)
        check_positive("max_schema_bytes", self.max_schema_bytes)
        self.schema_compatibility = str(self.schema_compatibility).lower()
        check_choice("schema_compatibility", self.schema_compatibility, COMPATIBILITY_MODES)
        for name in ("default_partitions", "max_partitions_per_topic", "max_message_bytes",
                     "fetch_max_bytes", "fsync_interval_ms", "segment_ms",
                     "retention_check_interval_ms", "max_delay_ms", "max_ttl_ms"):
            check_positive(name, getattr(self, name))
        check_positive("segment_bytes", self.segment_bytes, minimum=MIN_SEGMENT_BYTES)
        for name in ("retention_ms", "retention_bytes"):
            check_positive(name, getattr(self, name), allow_none=True)
        for name in ("group_min_session_timeout_ms", "group_max_session_timeout_ms",
                     "group_metadata_refresh_ms"):
            check_positive(name, getattr(self, name))
        if self.default_partitions > self.max_partitions_per_topic:
            raise ValueError("default_partitions must not exceed max_partitions_per_topic")
        for name in ("transaction_timeout_ms", "transaction_max_timeout_ms",
                     "max_open_transactions", "max_transaction_bytes", "transaction_buffer_bytes"):
            check_positive(name, getattr(self, name))
        if self.transaction_timeout_ms > self.transaction_max_timeout_ms:
            raise ValueError("transaction_timeout_ms must not exceed transaction_max_timeout_ms")
