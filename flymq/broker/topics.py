"""The set of topics on disk: creation, deletion, listing and recovery after a restart.

Layout under the data directory::

    topics/<dirname>/topic.json     name, partition count, per-topic config (written atomically)
    topics/<dirname>/<partition>/   one PartitionLog per partition, created on first use

``<dirname>`` comes from :func:`flymq.broker.topic_dirs.topic_dirname`. A topic appears by
renaming a fully written scratch directory into place and disappears by renaming it out of the
way before its files are removed, so a crash never leaves a half-created or half-deleted topic
visible. Scratch directories start with '.', which no encoded name does, and are swept on open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from flymq.broker.config import BrokerConfig, TopicConfig
from flymq.broker.partition import PartitionLeader
from flymq.broker.partitioner import RoundRobin
from flymq.broker.storage import Flusher, FsyncPolicy, LogConfig
from flymq.broker.storage.files import disk_errors, fsync_dir, write_json_atomically
from flymq.broker.topic_dirs import topic_dirname
from flymq.broker.ttl import check_ttl
from flymq.checks import I32_MAX, check_int
from flymq.clock import Clock
from flymq.errors import InvalidRequestError, StorageError, TopicNotFoundError
from flymq.topic_names import topic_name_problem, validate_topic_name

log = logging.getLogger(__name__)

META_FILE = "topic.json"
META_FORMAT = 1


@dataclass(eq=False)
class Topic:
    """One topic: its partition leaders, config and round-robin counter."""

    name: str
    directory: Path
    config: TopicConfig
    partitions: list[PartitionLeader]
    round_robin: RoundRobin = field(default_factory=RoundRobin)

    @property
    def partition_count(self) -> int:
        return len(self.partitions)

    def close(self) -> None:
        """Close every partition; a failure (a final checkpoint that could not be written)
        is raised once all are closed."""
        with contextlib.ExitStack() as closing:
            for leader in self.partitions:
                closing.callback(leader.close)


def log_config_for(broker: BrokerConfig, topic: TopicConfig) -> LogConfig:
    """The storage settings of a topic: the broker's, overridden by the topic's own."""
    def pick(name: str):
        value = getattr(topic, name)
        return getattr(broker, name) if value is None else value

    return LogConfig(segment_bytes=pick("segment_bytes"), segment_ms=pick("segment_ms"),
                     retention_ms=pick("retention_ms"), retention_bytes=pick("retention_bytes"),
                     fsync=FsyncPolicy(pick("fsync")),
                     fsync_interval_ms=broker.fsync_interval_ms,
                     compression=pick("compression"))


class TopicRegistry:
    """Every topic of one broker, keyed by name; thread-safe."""

    def __init__(self, root: Path, config: BrokerConfig, *, clock: Clock,
                 flusher: Flusher | None):
        self.root = root
        self._config = config
        self._clock = clock
        self._flusher = flusher
        self._lock = threading.Lock()
        self.by_name: dict[str, Topic] = {}
        """Read without the lock on hot paths (a dict lookup is atomic); written under it."""
        root.mkdir(parents=True, exist_ok=True)
        self._recover()

    # --- recovery ---------------------------------------------------------------------------
    def _recover(self) -> None:
        for entry in os.scandir(self.root):
            if entry.name.startswith("."):
                shutil.rmtree(entry.path, ignore_errors=True)  # unfinished create or delete
                continue
            topic = self._load(Path(entry.path))
            if topic is not None:
                self.by_name[topic.name] = topic

    def _load(self, directory: Path) -> Topic | None:
        try:
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
            name, partitions = meta["name"], int(meta["partitions"])
            config = TopicConfig.from_dict(meta.get("config", {}))
            newer = meta.get("format", META_FORMAT) > META_FORMAT
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring %s: unreadable topic metadata (%s)", directory, exc)
            return None
        if newer:
            log.warning("ignoring %s: written by a newer flymq", directory)
            return None
        if topic_name_problem(name) is not None or topic_dirname(name) != directory.name:
            log.warning("ignoring %s: it does not hold topic %r's data", directory, name)
            return None
        return self._topic(name, directory, config, partitions)

    def _topic(self, name: str, directory: Path, config: TopicConfig, partitions: int) -> Topic:
        log_config = log_config_for(self._config, config)
        leaders = [PartitionLeader(name, p, directory / str(p), log_config, clock=self._clock,
                                   flusher=self._flusher) for p in range(partitions)]
        return Topic(name, directory, config, leaders)

    # --- queries ----------------------------------------------------------------------------
    def get(self, name: str) -> Topic:
        """The topic called ``name``; TopicNotFoundError (wire ``topic not found: <t>``)."""
        topic = self.by_name.get(name)
        if topic is None:
            raise TopicNotFoundError(name)
        return topic

    def names(self, *, include_internal: bool = False) -> list[str]:
        """Topic names, byte-wise sorted; names starting with "__" only when asked for."""
        return sorted((n for n in self.by_name if include_internal or not n.startswith("__")),
                      key=lambda n: n.encode("utf-8"))

    # --- changes ----------------------------------------------------------------------------
    def create(self, name: str, partitions: int, config: TopicConfig | None = None) -> bool:
        """Create a topic; False (and no change) when it already exists."""
        validate_topic_name(name)
        partitions = self.check_partition_count(partitions)
        if config is not None and config.ttl_ms is not None:  # refused now, not at a produce
            check_ttl(config.ttl_ms, self._config.max_ttl_ms)
        with self._lock:
            if name in self.by_name:
                return False
            config = config or TopicConfig()
            final = self.root / topic_dirname(name)
            if final.exists():  # damaged or foreign data that recovery skipped: keep it
                raise StorageError(f"cannot create topic {name!r}: {final} holds data that is "
                                   "not a readable topic", hint="Inspect it and move it away.")
            scratch = self.root / f".new-{uuid.uuid4().hex}"
            try:
                with disk_errors(scratch, f"create topic {name!r} in"):  # e.g. a full disk
                    scratch.mkdir()
                    write_json_atomically(scratch / META_FILE, {
                        "format": META_FORMAT, "name": name, "partitions": partitions,
                        "config": config.to_dict(), "created_ms": self._clock.now_ms()})
                    os.rename(scratch, final)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)  # nothing half-made stays behind
                raise
            self.by_name[name] = self._topic(name, final, config, partitions)  # it is there
            with disk_errors(self.root, f"create topic {name!r} in"):
                fsync_dir(self.root)
            return True

    def check_partition_count(self, partitions: int) -> int:
        """The partition count to use for a requested one (0 means 1)."""
        partitions = check_int("partition count", partitions, 0, I32_MAX)
        limit = self._config.max_partitions_per_topic
        if partitions > limit:
            raise InvalidRequestError(
                f"invalid partition count: {partitions} (at most {limit} per topic)",
                hint="Raise max_partitions_per_topic in the broker configuration.")
        return partitions or 1

    def delete(self, name: str) -> bool:
        """Delete a topic and its data; False when there was none."""
        with self._lock:
            topic = self.by_name.pop(name, None)
            if topic is None:
                return False
            try:
                topic.close()
            except StorageError as exc:  # e.g. no descriptor for a final checkpoint: moot here
                log.warning("deleting topic %r: %s", name, exc)
            self._discard(topic.directory)
            return True

    def _discard(self, directory: Path) -> None:
        doomed = self.root / f".del-{uuid.uuid4().hex}"
        with disk_errors(directory, "delete"):
            os.rename(directory, doomed)
            fsync_dir(self.root)
        shutil.rmtree(doomed, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            topics = list(self.by_name.values())
        with contextlib.ExitStack() as closing:  # every topic closes, even after a failure
            for topic in topics:
                closing.callback(topic.close)
