"""Settings of the broker core, as plain typed dataclasses.

The server's TOML/environment loader fills these by field name, so every field is a simple
value with a default. Values are checked in ``__post_init__`` so a bad setting fails when the
broker is configured, not on the first request that needs it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from flymq.errors import MAX_FRAME_PAYLOAD

FSYNC_POLICIES = ("always", "interval", "never")
COMPRESSIONS = ("none", "lz4")
MIN_SEGMENT_BYTES = 1024  # the storage engine's lower bound


def _check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_positive(name: str, value: int | None, *, allow_none: bool = False,
                    minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


@dataclass
class TopicConfig:
    """Per-topic overrides of the broker's log settings; ``None`` means "use the broker's"."""

    compression: str | None = None
    """Batch compression of new appends: "none" or "lz4"."""
    retention_ms: int | None = None
    """Delete whole segments older than this many milliseconds."""
    retention_bytes: int | None = None
    """Delete the oldest segments while a partition is larger than this."""
    fsync: str | None = None
    """"always", "interval" or "never" (see BrokerConfig.fsync)."""
    segment_bytes: int | None = None
    """Roll to a new segment file after this many bytes."""
    segment_ms: int | None = None
    """Roll to a new segment file after this many milliseconds."""

    def __post_init__(self) -> None:
        _check_choice("compression", self.compression, COMPRESSIONS)
        _check_choice("fsync", self.fsync, FSYNC_POLICIES)
        for name in ("retention_ms", "retention_bytes", "segment_ms"):
            _check_positive(name, getattr(self, name), allow_none=True)
        _check_positive("segment_bytes", self.segment_bytes, allow_none=True,
                        minimum=MIN_SEGMENT_BYTES)

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that are set, as stored in the topic's metadata file."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TopicConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error, not silently dropped."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown topic config keys: {', '.join(unknown)}")
        return cls(**data)


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
    compression: str = "none"
    """Batch compression of appends: "none" or "lz4"."""
    retention_check_interval_ms: int = 60_000
    """How often (on the broker's clock) old segments are checked against retention limits."""

    def __post_init__(self) -> None:
        if self.data_dir is not None:
            self.data_dir = str(Path(self.data_dir))
        if not isinstance(self.auto_create_topics, bool):  # "no" would be truthy
            raise ValueError(f"auto_create_topics must be True or False; "
                             f"got {self.auto_create_topics!r}")
        _check_choice("fsync", self.fsync, FSYNC_POLICIES)
        _check_choice("compression", self.compression, COMPRESSIONS)
        for name in ("default_partitions", "max_partitions_per_topic", "max_message_bytes",
                     "fetch_max_bytes", "fsync_interval_ms", "segment_ms",
                     "retention_check_interval_ms"):
            _check_positive(name, getattr(self, name))
        _check_positive("segment_bytes", self.segment_bytes, minimum=MIN_SEGMENT_BYTES)
        for name in ("retention_ms", "retention_bytes"):
            _check_positive(name, getattr(self, name), allow_none=True)
        if self.default_partitions > self.max_partitions_per_topic:
            raise ValueError("default_partitions must not exceed max_partitions_per_topic")
