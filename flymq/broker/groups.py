"""Consumer groups: committed offsets (durable) and live members (in memory), wire spec §7.8.

A group is the pair (topic, group_id). Every commit and every group deletion is appended to an
internal :class:`StateLog` (``groups/offsets``) before the call returns, so it survives
``kill -9``; opening replays it, and it is compacted down to the live offsets as it grows.

Groups created only by SUBSCRIBE (no commit yet) live in memory, as upstream.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from flymq.broker.statelog import StateLog
from flymq.broker.storage import Flusher, LogConfig
from flymq.checks import check_int, check_partition, check_str
from flymq.clock import Clock
from flymq.errors import ConsumerGroupNotFoundError

LOG_DIR = "offsets"


@dataclass
class _Group:
    offsets: dict[int, int] = field(default_factory=dict)
    members: set[str] = field(default_factory=set)

    def describe(self, topic: str, group_id: str) -> dict:
        return {"topic": topic, "group_id": group_id, "members": len(self.members),
                "offsets": [{"partition": p, "offset": o} for p, o in sorted(self.offsets.items())]}


def _change(*fields: str | int) -> bytes:
    """One logged change: ``[topic, group, partition, offset]`` commits an offset and
    ``[topic, group]`` deletes the group."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class GroupCoordinator:
    """Every consumer group of one broker; thread-safe."""

    def __init__(self, directory: Path, log_config: LogConfig, *, clock: Clock,
                 flusher: Flusher | None, compact_min_records: int = 10_000):
        self._lock = threading.Lock()
        self._groups: dict[tuple[str, str], _Group] = {}
        self._log = StateLog(directory / LOG_DIR, name="__consumer_offsets/0",
                             log_config=log_config, clock=clock, flusher=flusher,
                             compact_min_records=compact_min_records)
        for change in self._log.replay():
            entry = json.loads(change)
            if len(entry) == 4:
                topic, group_id, partition, offset = entry
                self._groups.setdefault((topic, group_id), _Group()).offsets[partition] = offset
            else:
                self._groups.pop(tuple(entry), None)

    def _snapshot(self) -> Iterator[bytes]:
        """Every committed offset as a change: what compaction rewrites the log to."""
        return (_change(t, g, p, o) for (t, g), group in self._groups.items()
                for p, o in group.offsets.items())

    def close(self) -> None:
        with self._lock:
            self._log.close()

    # --- operations -------------------------------------------------------------------------
    def join(self, topic: str, group_id: str, member: str | None) -> None:
        """SUBSCRIBE's bookkeeping: the group exists (in memory) and ``member`` belongs to it."""
        _check_group(topic, group_id)
        with self._lock:
            group = self._groups.setdefault((topic, group_id), _Group())
            if member is not None:
                group.members.add(member)

    def member_left(self, member: str) -> None:
        with self._lock:
            for group in self._groups.values():
                group.members.discard(member)

    def commit(self, topic: str, group_id: str, partition: int, offset: int) -> None:
        """Store the next offset ``group_id`` should read; durable when this returns."""
        _check_group(topic, group_id)
        partition = check_partition(partition)
        offset = check_int("offset", offset)
        with self._lock:
            self._log.append(_change(topic, group_id, partition, offset))
            self._groups.setdefault((topic, group_id), _Group()).offsets[partition] = offset
            self._log.compact_if_due(self._snapshot)

    def committed(self, topic: str, group_id: str, partition: int) -> int | None:
        """The committed offset, None when the group has none for ``partition``."""
        with self._lock:
            return self._group(topic, group_id).offsets.get(partition)

    def exists(self, topic: str, group_id: str) -> bool:
        with self._lock:
            return (topic, group_id) in self._groups

    def describe(self, topic: str, group_id: str) -> dict:
        with self._lock:
            return self._group(topic, group_id).describe(topic, group_id)

    def list(self, topic: str = "") -> list[dict]:
        """Every group (of ``topic`` when given), sorted by topic and group id."""
        with self._lock:
            keys = sorted(k for k in self._groups if not topic or k[0] == topic)
            return [self._groups[k].describe(*k) for k in keys]

    def delete(self, topic: str, group_id: str) -> None:
        with self._lock:
            group = self._group(topic, group_id)
            if group.offsets:  # a group with no commit lives only in memory
                self._log.append(_change(topic, group_id))
            del self._groups[(topic, group_id)]
            self._log.compact_if_due(self._snapshot)

    def _group(self, topic: str, group_id: str) -> _Group:
        group = self._groups.get((topic, group_id))
        if group is None:
            raise ConsumerGroupNotFoundError(topic, group_id)
        return group


def _check_group(topic: object, group_id: object) -> None:
    """Group keys are strings: anything else would be stored, then break every listing."""
    check_str("topic", topic)
    check_str("group id", group_id)

