"""Consumer groups: committed offsets (durable) and live members (in memory), wire spec §7.8.

A group is the pair (topic, group_id). Every commit and every group deletion is appended to an
internal :class:`PartitionLog` (``groups/offsets``) before the call returns, so it survives
``kill -9``; opening replays that log. When the log holds many more records than live offsets,
it is rewritten as a snapshot in a scratch directory that then replaces it by two renames;
:meth:`GroupCoordinator._recover_swap` finishes or discards an interrupted rewrite.

Groups created only by SUBSCRIBE (no commit yet) live in memory, as upstream.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from flymq.broker.fsutil import fsync_dir
from flymq.broker.storage import Flusher, LogConfig, PartitionLog, Record
from flymq.checks import check_int, check_partition, check_str
from flymq.clock import Clock
from flymq.errors import ConsumerGroupNotFoundError

LOG_DIR = "offsets"
_NEW_SUFFIX, _OLD_SUFFIX = ".new", ".old"
_SNAPSHOT_CHUNK = 1000


@dataclass
class _Group:
    offsets: dict[int, int] = field(default_factory=dict)
    members: set[str] = field(default_factory=set)

    def describe(self, topic: str, group_id: str) -> dict:
        return {"topic": topic, "group_id": group_id, "members": len(self.members),
                "offsets": [{"partition": p, "offset": o} for p, o in sorted(self.offsets.items())]}


def _change(*fields: str | int) -> Record:
    """One log record: ``[topic, group, partition, offset]`` commits an offset and
    ``[topic, group]`` deletes the group."""
    return Record(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


class GroupCoordinator:
    """Every consumer group of one broker; thread-safe."""

    def __init__(self, directory: Path, log_config: LogConfig, *, clock: Clock,
                 flusher: Flusher | None, compact_min_records: int = 10_000):
        self._dir = directory
        self._log_config = log_config
        self._clock = clock
        self._flusher = flusher
        self._compact_min = compact_min_records
        self._lock = threading.Lock()
        self._groups: dict[tuple[str, str], _Group] = {}
        directory.mkdir(parents=True, exist_ok=True)
        self._recover_swap()
        self._log = self._open(directory / LOG_DIR)
        self._replay()
        self._records = self._log.end_offset - self._log.start_offset
        self._compact_at = self._next_compaction_point()

    # --- persistence ------------------------------------------------------------------------
    def _open(self, path: Path) -> PartitionLog:
        return PartitionLog(path, self._log_config, clock=self._clock, flusher=self._flusher,
                            name="__consumer_offsets/0")

    def _recover_swap(self) -> None:
        live = self._dir / LOG_DIR
        new, old = live.with_name(LOG_DIR + _NEW_SUFFIX), live.with_name(LOG_DIR + _OLD_SUFFIX)
        if not live.exists() and new.exists():  # crashed between the two renames
            os.rename(new, live)
            fsync_dir(self._dir)
        for leftover in (new, old):
            shutil.rmtree(leftover, ignore_errors=True)

    def _replay(self) -> None:
        for record in _read_all(self._log):
            entry = json.loads(record.value)
            if len(entry) == 4:
                topic, group_id, partition, offset = entry
                self._groups.setdefault((topic, group_id), _Group()).offsets[partition] = offset
            else:
                self._groups.pop(tuple(entry), None)

    def _append(self, record: Record) -> None:
        """Persist one change before memory reflects it (the caller holds the lock)."""
        self._log.append([record])
        self._records += 1

    def _compact_if_due(self) -> None:
        """Rewrite the log as a snapshot of memory (the caller holds the lock and has applied
        every change it appended)."""
        if self._records >= self._compact_at:
            self._compact()

    def _next_compaction_point(self) -> int:
        live = sum(len(g.offsets) for g in self._groups.values())
        return max(self._compact_min, 4 * live)

    def _compact(self) -> None:
        live = self._dir / LOG_DIR
        new, old = live.with_name(LOG_DIR + _NEW_SUFFIX), live.with_name(LOG_DIR + _OLD_SUFFIX)
        shutil.rmtree(new, ignore_errors=True)
        snapshot = [_change(t, g, p, o) for (t, g), group in self._groups.items()
                    for p, o in group.offsets.items()]
        fresh = self._open(new)
        for i in range(0, len(snapshot), _SNAPSHOT_CHUNK):
            fresh.append(snapshot[i:i + _SNAPSHOT_CHUNK])
        fresh.flush()
        fresh.close()
        self._log.close()
        os.rename(live, old)
        os.rename(new, live)
        fsync_dir(self._dir)
        shutil.rmtree(old, ignore_errors=True)
        self._log = self._open(live)
        self._records = len(snapshot)
        self._compact_at = self._next_compaction_point()

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
            self._append(_change(topic, group_id, partition, offset))
            self._groups.setdefault((topic, group_id), _Group()).offsets[partition] = offset
            self._compact_if_due()

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
            if group.offsets:
                self._append(_change(topic, group_id))
            del self._groups[(topic, group_id)]
            self._compact_if_due()

    def _group(self, topic: str, group_id: str) -> _Group:
        group = self._groups.get((topic, group_id))
        if group is None:
            raise ConsumerGroupNotFoundError(topic, group_id)
        return group


def _check_group(topic: object, group_id: object) -> None:
    """Group keys are strings: anything else would be stored, then break every listing."""
    check_str("topic", topic)
    check_str("group id", group_id)


def _read_all(log: PartitionLog) -> Iterator:
    pos, end = log.start_offset, log.end_offset
    while pos < end:
        batch = log.read(pos, _SNAPSHOT_CHUNK)
        if not batch:
            return
        yield from batch
        pos = batch[-1].offset + 1
