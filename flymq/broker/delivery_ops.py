"""The delivery-time operations of the Broker facade (``Broker`` inherits them): TTL produce,
delayed delivery (:mod:`flymq.broker.delays`) and dead-letter queues
(:mod:`flymq.broker.dead_letters`), as both front doors call them through a session."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from flymq.broker.appends import AppendRequest, new_request
from flymq.broker.dead_letters import DeadLetters
from flymq.broker.delays import DelayScheduler
from flymq.broker.partitioner import choose_partition
from flymq.broker.ttl import check_ttl, first_live_offset
from flymq.errors import DeadLetterNotFoundError, PartitionNotFoundError
from flymq.models import DelayedRecordMetadata, DLQMessage, RecordMetadata

if TYPE_CHECKING:
    from flymq.broker.partition import PartitionLeader
    from flymq.broker.storage import LogConfig


_TAIL = AppendRequest("", ())[5:]   # (compression, wait) of a plain request


class DeliveryOperations:
    """Mixed into ``Broker``; the coordinators live in ``_delays`` and ``_dead_letters``."""

    _delays: DelayScheduler | None
    _dead_letters: DeadLetters | None
    expired_removed: int = 0
    """Expired (TTL) records deleted by retention passes since the broker started."""

    def _open_delivery(self, log_config: "LogConfig") -> None:
        """Open the delayed-message index and the DLQ state (from ``__init__``)."""
        self._delays = DelayScheduler(self, self.data_dir / "delayed", log_config,
                                      flusher=self._flusher)
        self._dead_letters = DeadLetters(self, self.data_dir / "dead-letters", log_config,
                                         flusher=self._flusher)
        # partition -> offset below which every record has expired (scanned once, kept)
        self._expired_below: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # --- helpers the coordinators use ---------------------------------------------------------
    def partition_leader(self, topic: str, partition: int) -> "PartitionLeader":
        """The leader of (topic, partition): ``topic not found`` / ``partition not found``."""
        self._check_open()
        return self._leader(topic, partition)

    def check_produce_target(self, topic: str, partition: int, value: bytes) -> None:
        """Raise what a produce of ``value`` to (topic, partition) would raise (auto-creating
        the topic where a produce would), without writing anything."""
        t = self._by_name.get(topic) or self._topic_to_write(topic, partition)
        if partition >= len(t.partitions):
            raise PartitionNotFoundError(topic, partition, style="out of range")
        if t.config.schema is not None:  # refused now, not at every delivery attempt
            self._schemas.validate(t.config.schema, value)

    def place(self, topic: str, key: bytes | None, partition: int) -> int:
        """The partition a produce to ``topic`` at this moment puts a record in: the explicit
        one if the topic still has it, else by key hash or round-robin (wire spec §7.2)."""
        t = self._by_name.get(topic) or self._topic_to_write(topic, partition)
        count = len(t.partitions)
        if 0 <= partition < count:
            return partition
        return choose_partition(key, count, t.round_robin)

    # --- TTL ----------------------------------------------------------------------------------
    def produce_with_ttl(self, topic: str, value: bytes, ttl_ms: int, *,
                         key: bytes | None = None, partition: int = -1,
                         headers: dict[str, str] | None = None) -> RecordMetadata:
        """Append one record that no read path delivers once ``ttl_ms`` have passed."""
        limit = self.config.max_ttl_ms
        if ttl_ms.__class__ is not int or not 0 < ttl_ms <= limit:
            ttl_ms = check_ttl(ttl_ms, limit)  # raises, saying why
        # new_request: one C call instead of the keyword constructor (as Broker.produce)
        result = self.append(new_request((topic, ((key, value, partition, headers, None),),
                                          None, None, self._now_ms() + ttl_ms) + _TAIL))
        placed, offset = result.placements[0]
        return RecordMetadata(topic, placed, offset, result.timestamp, len(key) if key else -1,
                              len(value))

    def remove_expired(self) -> int:
        """Delete the sealed head segments of every partition whose records have all expired;
        returns how many records went (also counted in ``server_info()["expired_removed"]``)."""
        self._check_open()
        now = self.clock.now_ms()
        removed = 0
        for t in list(self._by_name.values()):
            for leader in t.partitions:
                if not leader.directory.exists():
                    continue  # never written
                log = leader.log
                start = max(log.start_offset, self._expired_below.get(leader, 0))
                live = first_live_offset(log, start, leader.high_watermark, now)
                self._expired_below[leader] = live
                removed += log.delete_before(live)
        self.expired_removed += removed
        return removed

    # --- delayed delivery -----------------------------------------------------------------------
    def produce_delayed(self, topic: str, value: bytes, delay_ms: int, *,
                        key: bytes | None = None, partition: int = -1,
                        headers: dict[str, str] | None = None,
                        transaction_id: str | None = None) -> DelayedRecordMetadata:
        """Deliver one record to ``topic`` ``delay_ms`` from now (1 ms .. ``max_delay_ms``),
        exactly once, as a produce at that moment would; the result carries the id that
        :meth:`cancel_delayed` takes (offset 0 until delivery, as upstream)."""
        self._check_open()
        return self._delays.schedule(topic, bytes(value), delay_ms, key=key or None,
                                     partition=partition, headers=headers,
                                     transaction_id=transaction_id)

    def cancel_delayed(self, delay_id: str) -> None:
        """Make sure a pending delayed message is never delivered;
        DelayedMessageNotFoundError when it is unknown, delivered or cancelled already."""
        self._check_open()
        self._delays.cancel(delay_id)

    def list_delayed(self, topic: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Pending delayed messages of ``topic`` in due order: ``{"id", "topic", "due_at"}``."""
        self._check_open()
        return self._delays.list(topic, limit)

    def count_delayed(self, topic: str = "") -> int:
        """How many delayed messages of ``topic`` ("" = of every topic) are pending."""
        self._check_open()
        return self._delays.count(topic or None)

    # --- dead-letter queues -----------------------------------------------------------------------
    def dead_letter(self, topic: str, partition: int, offset: int, *,
                    reason: str = "processing_error", error: str = "", retry_count: int = 0,
                    first_failed_at: int | None = None) -> str:
        """Copy the record at (topic, partition, offset) into ``topic.dlq`` with why and after
        how many attempts it failed; returns the entry id."""
        self._check_open()
        return self._dead_letters.route(topic, partition, offset, reason, error, retry_count,
                                        first_failed_at)

    def fetch_dlq(self, topic: str, max_messages: int = 10, offset: int = 0
                  ) -> list[DLQMessage]:
        """Entries of ``topic``'s DLQ from DLQ offset ``offset``; TopicNotFoundError when
        neither the topic nor its DLQ exists."""
        self._check_open()
        return self._dead_letters.fetch(topic, max_messages, offset)

    def replay_dlq(self, topic: str, message_id: str) -> None:
        """Append an entry back to its topic (key, headers and TTL kept) and remove it."""
        self._check_open()
        self._dead_letters.replay(topic, message_id)

    def re_inject_dlq(self, topic: str, offset: int) -> bool:
        """:meth:`replay_dlq` of the entry at DLQ offset ``offset``; False (as upstream's
        SDKs report it) when the DLQ holds no entry there."""
        self._check_open()
        try:
            self._dead_letters.re_inject(topic, offset)
        except DeadLetterNotFoundError:
            return False
        return True

    def purge_dlq(self, topic: str) -> None:
        """Delete every entry of ``topic``'s DLQ."""
        self._check_open()
        self._dead_letters.purge(topic)
