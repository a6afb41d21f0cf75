"""Client-side settings (§10.3): one mutable dataclass per component, validated on creation.

Validation errors are ``ValueError`` so code written for upstream's pydantic models
(``except ValueError``) keeps working.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from flymq.models import AckMode, SubscribeMode

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _check_range(obj: Any, name: str, low: int, high: int | None = None) -> None:
    value = getattr(obj, name)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")


@dataclass
class TLSConfig:
    """TLS for ``connect(tls=...)`` / ``FlyMQClient(tls=...)``."""

    enabled: bool = False
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False


@dataclass
class ClientConfig:
    """Everything a :class:`~flymq.client.client.FlyMQClient` needs to reach a broker."""

    bootstrap_servers: str | list[str] = "localhost:9092"
    connect_timeout_ms: int = 10000
    request_timeout_ms: int = 30000
    max_retries: int = 3
    retry_delay_ms: int = 1000
    tls_enabled: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_server_name: str | None = None
    tls_insecure_skip_verify: bool = False
    username: str | None = None
    password: str | None = None
    client_id: str = "pyflymq-client"
    value_serializer: Any = None
    value_deserializer: Any = None
    encryption_enabled: bool = False
    encryption_key: str | None = None

    def __post_init__(self) -> None:
        _check_range(self, "connect_timeout_ms", 100, 300000)
        _check_range(self, "request_timeout_ms", 100, 300000)
        _check_range(self, "max_retries", 0, 100)
        _check_range(self, "retry_delay_ms", 0, 60000)
        if self.encryption_key is not None and not _HEX64.fullmatch(self.encryption_key):
            raise ValueError("encryption_key must be 64 hex characters (32 bytes)")

    def get_servers(self) -> list[str]:
        """The bootstrap list: a comma-separated string or a list, trimmed, empties dropped."""
        items = self.bootstrap_servers
        if isinstance(items, str):
            items = items.split(",")
        return [s.strip() for s in items if s and s.strip()]

    def apply_tls(self, tls: TLSConfig) -> None:
        """Replace the six TLS fields with those of ``tls``."""
        self.tls_enabled = tls.enabled
        self.tls_cert_file = tls.cert_file
        self.tls_key_file = tls.key_file
        self.tls_ca_file = tls.ca_file
        self.tls_server_name = tls.server_name
        self.tls_insecure_skip_verify = tls.insecure_skip_verify

    def replace(self, **changes: Any) -> "ClientConfig":
        """A validated copy with ``changes``; unknown names raise ``TypeError``."""
        return dataclasses.replace(self, **changes)


@dataclass
class ProducerConfig:
    batch_size: int = 16384
    linger_ms: int = 0
    max_batch_messages: int = 1000
    acks: str = AckMode.ALL.value
    retries: int = 3
    retry_backoff_ms: int = 100
    compression_type: str = "none"
    buffer_memory: int = 32 * 1024 * 1024  # [ext] bytes of unacknowledged values per producer
    max_block_ms: int = 60000  # [ext] how long send() waits for buffer space

    def __post_init__(self) -> None:
        self.acks = AckMode(self.acks).value
        for name in ("batch_size", "linger_ms", "max_batch_messages", "retries",
                     "retry_backoff_ms", "buffer_memory", "max_block_ms"):
            _check_range(self, name, 0)


@dataclass
class ConsumerConfig:
    group_id: str | None = None
    auto_offset_reset: str = SubscribeMode.LATEST.value
    enable_auto_commit: bool = True
    auto_commit_interval_ms: int = 5000
    fetch_min_bytes: int = 1
    fetch_max_bytes: int = 52428800
    fetch_max_wait_ms: int = 500
    max_retries: int = 3
    """[ext] Retries of a message whose processing failed before the high-level consumer
    routes it to the dead-letter queue (docs/dead-letters.md)."""
    retry_backoff_ms: int = 100
    """[ext] Clock time between a failed attempt and the next delivery of that message, read
    on the consumer's clock (so a test's ManualClock makes retries due; docs/dead-letters.md).
    Named as ProducerConfig's; 0 retries at once."""
    max_poll_records: int = 500
    session_timeout_ms: int = 30000
    heartbeat_interval_ms: int = 3000
    message_filter: str | None = None
    max_poll_interval_ms: int = 300000
    """[ext] Longest gap between polls before the consumer leaves its group (Kafka's)."""
    partition_assignment_strategy: str | list[str] = "range"
    """[ext] ``range``, ``roundrobin`` or ``sticky``, or a list in order of preference."""
    metadata_max_age_ms: int = 5000
    """[ext] Single-member mode (an upstream server): how often topic patterns are resolved
    again. With a flymq broker the group's coordinator does it (docs/consumers.md)."""

    def __post_init__(self) -> None:
        mode = SubscribeMode(self.auto_offset_reset)
        if mode is SubscribeMode.COMMIT:
            raise ValueError("auto_offset_reset must be 'earliest' or 'latest'")
        self.auto_offset_reset = mode.value
        _check_range(self, "auto_commit_interval_ms", 100)
        _check_range(self, "max_retries", 0)
        _check_range(self, "retry_backoff_ms", 0)
        _check_range(self, "max_poll_records", 1)
        for name in ("session_timeout_ms", "heartbeat_interval_ms", "max_poll_interval_ms",
                     "metadata_max_age_ms"):
            _check_range(self, name, 1)
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be lower than session_timeout_ms")
