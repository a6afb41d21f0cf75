"""Per-log settings: how big segments grow, how long data is kept, and when data is fsynced."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class FsyncPolicy(str, Enum):
    """What survives a power loss (every policy survives kill -9: appends reach the OS first)."""

    ALWAYS = "always"      # an append returns after an fsync covering it (group commit)
    INTERVAL = "interval"  # the shared Flusher fsyncs dirty logs every fsync_interval_ms
    NEVER = "never"        # the OS writes back when it likes; fsync only on roll and close


COMPRESSIONS = ("none", "lz4")


@dataclass
class LogConfig:
    segment_bytes: int = 64 * 1024 * 1024
    segment_ms: int = 7 * 24 * 3600 * 1000
    retention_ms: int | None = None          # None = keep forever
    retention_bytes: int | None = None
    fsync: FsyncPolicy = FsyncPolicy.INTERVAL
    fsync_interval_ms: int = 200
    index_interval_bytes: int = 4096
    compression: str = "none"                # "none" | "lz4"

    def __post_init__(self) -> None:
        self.fsync = FsyncPolicy(self.fsync)
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"unknown compression {self.compression!r}; use one of {COMPRESSIONS}")
        if self.segment_bytes < 1024:
            raise ValueError("segment_bytes must be at least 1024")
