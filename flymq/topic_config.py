"""Per-topic settings (``TopicConfig``) and the values every log setting may take.

Shared by the broker, which stores and applies them, and the client, which builds and checks
one from a dict before a ``create_topic`` request; so a TCP client checks a topic's settings
without loading the broker. ``BrokerConfig`` (:mod:`flymq.broker.config`) takes its defaults
from the same choices.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

FSYNC_POLICIES = ("always", "interval", "never")
COMPRESSIONS = ("none", "lz4")
MIN_SEGMENT_BYTES = 1024  # the storage engine's lower bound


def check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    """ValueError unless ``value`` is None or one of ``choices``."""
    if value is not None and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_positive(name: str, value: int | None, *, allow_none: bool = False,
                   minimum: int = 1) -> None:
    """ValueError unless ``value`` is an int (not a bool) of at least ``minimum``."""
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
    ttl_ms: int | None = None
    """Default time to live of records produced without their own TTL: they are never
    delivered once older than this (docs/delayed-ttl.md)."""
    schema: str | None = None
    """Schema subject every record produced to the topic must match (docs/schemas.md)."""

    def __post_init__(self) -> None:
        check_choice("compression", self.compression, COMPRESSIONS)
        check_choice("fsync", self.fsync, FSYNC_POLICIES)
        for name in ("retention_ms", "retention_bytes", "segment_ms", "ttl_ms"):
            check_positive(name, getattr(self, name), allow_none=True)
        check_positive("segment_bytes", self.segment_bytes, allow_none=True,
                       minimum=MIN_SEGMENT_BYTES)
        if self.schema is not None and (not isinstance(self.schema, str) or not self.schema):
            raise ValueError(f"schema must be a schema name; got {self.schema!r}")

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
