"""The transaction coordinator: atomic writes across topics and partitions, read-committed
isolation, and crash atomicity (docs/transactions.md describes the design).

A transaction's records wait in broker memory until commit (bounded by
``max_transaction_bytes`` each and ``transaction_buffer_bytes`` for all). Commit follows
Kafka's design, one step after the other, each durable before the next begins:

1. a fresh producer id is taken, the partitions are registered as pending with each
   partition leader (readers stop below them: the last stable offset) and a PREPARE record
   naming them is written to the transaction log (a :class:`StateLog`);
2. each partition gets one transactional batch of the transaction's records;
3. once that data is durable, the COMMIT decision is written: the commit point;
4. each partition gets a commit marker and releases its readers; consumer offsets sent with
   the transaction are committed to their groups, then a DONE record says so.

A crash before 3 leaves a PREPARE without a decision: on open the coordinator records the
transaction as aborted (its producer id, per partition, in the aborted index readers skip). A
crash after 3 leaves nothing to undo: producer ids are never reused, so data of a producer id
that was not aborted is committed, with or without its markers. Recovery reads only the
transaction log, which compaction keeps as small as the live state (pending commits, aborted
ranges, offsets not yet applied), never the partitions.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from flymq.broker.statelog import StateLog
from flymq.broker.storage import Flusher, LogConfig, Record
from flymq.clock import Clock
from flymq.errors import (InvalidRequestError, PartitionNotFoundError, TopicNotFoundError,
                          TransactionNotActiveError, TransactionNotFoundError,
                          TransactionRefusedError)
from flymq.timers import Timer, TimerService
from flymq.txn_ids import is_client_txn_id

if TYPE_CHECKING:
    from flymq.broker.partition import PartitionLeader
    from flymq.broker.topics import Topic

log = logging.getLogger(__name__)

ACTIVE, COMMITTING, COMMITTED, ABORTED = "active", "prepared", "committed", "aborted"
#: Finished transaction ids remembered, so a late call says "not active", not "not found".
FINISHED_REMEMBERED = 10_000
#: Bytes a buffered record counts beyond its key and value (bounds memory for tiny records).
RECORD_OVERHEAD = 64
#: Kafka's producer epoch: one producer id per transaction, so always 0 here.
EPOCH = 0

#: A buffered record: (topic, partition, storage record).
Buffered = tuple[str, int, Record]
#: A consumer offset sent with a transaction: (group id, topic, partition, next offset).
GroupOffset = tuple[str, str, int, int]


class _Txn:
    __slots__ = ("id", "owner", "state", "records", "size", "offsets", "timeout_ms",
                 "last_active", "lock", "why")

    def __init__(self, txn_id: str, owner: object, timeout_ms: int, now: int):
        self.id, self.owner, self.state = txn_id, owner, ACTIVE
        self.records: list[Buffered] = []
        self.size = 0
        self.offsets: dict[tuple[str, str, int], int] = {}   # (group, topic, partition) -> offset
        self.timeout_ms, self.last_active = timeout_ms, now
        self.lock = threading.Lock()
        self.why = ""   # how it ended, when not by its owner's commit or rollback


def _encode(*change: object) -> bytes:
    return json.dumps(change, separators=(",", ":")).encode()


class TransactionCoordinator:
    """Owns every open transaction of a broker and the transaction log; thread-safe.

    ``topics`` is the broker's live name -> Topic map (read at commit and on open);
    ``commit_offset(topic, group, partition, offset)`` stores a group's committed offset.
    """

    def __init__(self, directory: Path, log_config: LogConfig, *, clock: Clock,
                 flusher: Flusher | None, timers: TimerService, topics: dict[str, "Topic"],
                 commit_offset: Callable[[str, str, int, int], None],
                 timeout_ms: int = 60_000, max_timeout_ms: int = 900_000,
                 max_open: int = 10_000, max_bytes: int = 16 << 20,
                 buffer_bytes: int = 256 << 20):
        self._clock, self._timers, self._topics = clock, timers, topics
        self._commit_offset = commit_offset
        self.timeout_ms, self.max_timeout_ms = timeout_ms, max_timeout_ms
        self.max_open, self.max_bytes, self.buffer_bytes = max_open, max_bytes, buffer_bytes
        self._lock = threading.Lock()            # the maps below and the state log
        self._txns: dict[str, _Txn] = {}
        self._owned: dict[int, set[str]] = {}    # id(owner) -> its open transaction ids
        self._finished: OrderedDict[str, tuple[str, str]] = OrderedDict()  # id -> (state, why)
        self._buffered = 0
        self._ids = itertools.count(1)
        self._id_prefix = f"txn-{secrets.token_hex(4)}-"   # never the id of an earlier run
        self._next_pid = 0
        self._prepared: dict[int, list] = {}     # producer id -> [[topic, partition, first]]
        self._unapplied: dict[int, list] = {}    # producer id -> offsets decided, not applied
        self._aborted: dict[int, list] = {}      # producer id -> [[topic, partition, first]]
        # One timer for every open transaction's timeout, due when the first may expire: a
        # timer per transaction, armed and cancelled, cost a tenth of a commit.
        self._sweep: Timer | None = None
        self._sweep_due: float = math.inf
        self._log = StateLog(directory, name="__transactions", log_config=log_config,
                             clock=clock, flusher=flusher)
        try:
            self._recover()
        except BaseException:
            self._log.close()
            raise

    # --- recovery -----------------------------------------------------------------------------
    def _recover(self) -> None:
        """Rebuild from the transaction log: undecided commits are aborted, decided offsets
        applied, aborted ranges handed to their partition leaders."""
        prepared: dict[int, list] = {}
        for raw in self._log.replay():
            kind, pid, *rest = json.loads(raw)
            if kind == "N":
                self._next_pid = max(self._next_pid, pid)
            elif kind == "P":
                prepared[pid] = rest[0]
                self._next_pid = max(self._next_pid, pid + 1)
            elif kind == "C":
                prepared.pop(pid, None)
                if rest[0]:
                    self._unapplied[pid] = rest[0]
            elif kind == "D":
                self._unapplied.pop(pid, None)
            elif kind == "A":
                prepared.pop(pid, None)
                self._aborted[pid] = rest[0]
        if prepared:  # the decision never became durable: these are aborted, all at once
            self._log.append(*(_encode("A", pid, parts) for pid, parts in prepared.items()))
            self._aborted.update(prepared)
        for pid, offsets in list(self._unapplied.items()):
            self._apply_offsets(pid, offsets)
        for pid, parts in list(self._aborted.items()):
            live = [part for part in parts if self._leader(part[0], part[1]) is not None]
            for topic, partition, first in live:
                self._leader(topic, partition).txns.aborted[pid] = first
            if live:
                self._aborted[pid] = live
            else:
                del self._aborted[pid]  # its topics are gone, and their data with them
        self._log.compact_if_due(self._snapshot)

    def _leader(self, topic: str, partition: int) -> "PartitionLeader | None":
        t = self._topics.get(topic)
        return t.partitions[partition] if t is not None and partition < len(t.partitions) \
            else None

    def _snapshot(self) -> Iterable[bytes]:
        """The live state as changes (the state log's compaction input)."""
        yield _encode("N", self._next_pid)
        for pid, parts in self._prepared.items():
            yield _encode("P", pid, parts)
        for pid, offsets in self._unapplied.items():
            yield _encode("C", pid, offsets)
        for pid, parts in self._aborted.items():
            yield _encode("A", pid, parts)

    def _write(self, *changes: bytes) -> None:
        """Append to the transaction log (durable when this returns); caller holds _lock."""
        self._log.append(*changes)

    # --- the client's calls ------------------------------------------------------------------
    def begin(self, owner: object = None, timeout_ms: int | None = None,
              txn_id: str | None = None) -> str:
        """A new transaction id; ``owner`` (a session) alone may use it, None: anyone.
        ``txn_id``: the id a client picked (:mod:`flymq.txn_ids`) instead of a new one."""
        if txn_id is not None and not is_client_txn_id(txn_id):
            raise InvalidRequestError(f"invalid transaction id: {txn_id!r}",
                                      hint="A client-picked id is ctx- and 32 hex digits.")
        if timeout_ms is None:
            timeout_ms = self.timeout_ms
        elif not 0 < timeout_ms <= self.max_timeout_ms:
            raise InvalidRequestError(
                f"invalid transaction timeout: {timeout_ms} ms (1 .. {self.max_timeout_ms})")
        with self._lock:
            if len(self._txns) >= self.max_open:
                raise TransactionRefusedError(
                    f"transaction limit reached: {self.max_open} transactions are open")
            if txn_id is None:
                txn_id = f"{self._id_prefix}{next(self._ids)}"
            elif txn_id in self._txns or txn_id in self._finished:
                raise TransactionRefusedError(f"transaction id in use: {txn_id}")
            txn = _Txn(txn_id, owner, timeout_ms, self._clock.now_ms())
            self._txns[txn.id] = txn
            if owner is not None:
                self._owned.setdefault(id(owner), set()).add(txn.id)
            self._arm_sweep(txn.last_active + timeout_ms)
        return txn.id

    def check(self, txn_id: str, owner: object = None) -> None:
        """Raise what an operation on ``txn_id`` by ``owner`` would raise now."""
        txn = self._get(txn_id, owner)
        if txn.state != ACTIVE:
            raise self._not_active(txn.state, txn.why)

    def add(self, txn_id: str, records: Sequence[Buffered], owner: object = None) -> None:
        """Buffer ``records`` in the transaction. A refused add changes nothing, and the
        transaction can still be committed or rolled back."""
        size = sum(len(r.value) + len(r.key or b"") for _, _, r in records) + \
            RECORD_OVERHEAD * len(records)
        txn = self._get(txn_id, owner)
        with txn.lock:
            if txn.state != ACTIVE:
                raise self._not_active(txn.state, txn.why)
            if txn.size + size > self.max_bytes:
                raise TransactionRefusedError(
                    f"transaction too large: {txn.size + size} bytes exceeds the limit of "
                    f"{self.max_bytes} bytes")
            with self._lock:
                if self._buffered + size > self.buffer_bytes:
                    raise TransactionRefusedError(
                        "transaction buffer full: open transactions hold "
                        f"{self._buffered} bytes (limit {self.buffer_bytes})")
                self._buffered += size
            txn.records.extend(records)
            txn.size += size
            txn.last_active = self._clock.now_ms()

    def add_offsets(self, txn_id: str, group_id: str,
                    offsets: Iterable[tuple[str, int, int]], owner: object = None) -> None:
        """Commit ``(topic, partition, next offset)`` for ``group_id`` if and only if the
        transaction commits (Kafka's TxnOffsetCommit); the broker has validated
        ``group_id``."""
        checked = []
        for topic, partition, offset in offsets:
            if not isinstance(topic, str) or type(partition) is not int or \
                    type(offset) is not int or partition < 0 or offset < 0:
                raise InvalidRequestError(
                    f"invalid transaction offset: {(topic, partition, offset)!r}")
            checked.append((topic, partition, offset))
        txn = self._get(txn_id, owner)
        with txn.lock:
            if txn.state != ACTIVE:
                raise self._not_active(txn.state, txn.why)
            if len(txn.offsets) + len(checked) > 100_000:
                raise TransactionRefusedError(
                    "transaction offsets: more than 100000 in one transaction")
            for topic, partition, offset in checked:
                txn.offsets[(group_id, topic, partition)] = offset
            txn.last_active = self._clock.now_ms()

    def commit(self, txn_id: str, owner: object = None) -> None:
        """Make the transaction visible, atomically; returns once the decision and the data
        are durable. A failed commit leaves the transaction open: roll it back (or retry)."""
        txn = self._get(txn_id, owner)
        with txn.lock:
            if txn.state != ACTIVE:
                raise self._not_active(txn.state, txn.why)
            txn.state = COMMITTING   # the timeout leaves it alone from here
            try:
                self._commit(txn)
            except BaseException:
                txn.state = ACTIVE
                txn.last_active = self._clock.now_ms()
                raise
            self._finish(txn, COMMITTED)

    def commit_waits(self, txn_id: str) -> bool:
        """Whether committing ``txn_id`` now may wait on the disk: anything but a one-phase
        commit without fsyncs (a server runs such a commit on a worker thread)."""
        txn = self._txns.get(txn_id)
        if txn is None or not txn.records:
            return txn is not None and bool(txn.offsets)   # an error, or nothing to write
        topic, partition, _ = txn.records[0]
        if txn.offsets or any(t != topic or p != partition for t, p, _ in txn.records):
            return True
        leader = self._leader(topic, partition)
        return leader is not None and leader.syncs_each_append

    def abort(self, txn_id: str, owner: object = None) -> None:
        """Discard the transaction; nothing of it was written anywhere. Aborting one that
        was aborted already (by its timeout, say) succeeds, so a rollback after a failure
        never hides the failure behind a second one."""
        if txn_id not in self._txns and self._finished.get(txn_id, ("",))[0] == ABORTED:
            return
        txn = self._get(txn_id, owner)
        with txn.lock:
            if txn.state != ACTIVE:
                raise self._not_active(txn.state, txn.why)
            self._finish(txn, ABORTED)

    def owner_left(self, owner: object) -> None:
        """A session closed: abort every transaction it still has open."""
        with self._lock:
            owned = self._owned.pop(id(owner), set())
        for txn_id in owned:
            self._abandon(txn_id, "its session closed")

    # --- internals ----------------------------------------------------------------------------
    def _get(self, txn_id: str, owner: object) -> _Txn:
        txn = self._txns.get(txn_id)
        if txn is None:
            ended = self._finished.get(txn_id)
            if ended is not None:
                raise self._not_active(*ended)
            raise TransactionNotFoundError(txn_id)
        if owner is not None and txn.owner is not None and txn.owner is not owner:
            raise TransactionRefusedError(
                f"transaction {txn_id} belongs to another session")
        return txn

    @staticmethod
    def _not_active(state: str, why: str = "") -> TransactionNotActiveError:
        hint = f"It was aborted because {why}. " if why else ""
        return TransactionNotActiveError(
            f"transaction is not active: {state}",
            hint=hint + "Start a new transaction with begin_transaction().")

    def _finish(self, txn: _Txn, state: str) -> None:
        """End ``txn`` (its lock held): forget its buffer, remember how it ended."""
        txn.state = state
        with self._lock:
            self._buffered -= txn.size
            self._txns.pop(txn.id, None)
            if txn.owner is not None:
                owned = self._owned.get(id(txn.owner))
                if owned is not None:
                    owned.discard(txn.id)
            self._finished[txn.id] = (state, txn.why)
            if len(self._finished) > FINISHED_REMEMBERED:
                self._finished.popitem(last=False)
        txn.records, txn.size, txn.offsets = [], 0, {}

    def _abandon(self, txn_id: str, why: str) -> bool:
        """Abort an open transaction nobody will finish; False if it is busy committing."""
        txn = self._txns.get(txn_id)
        if txn is None or not txn.lock.acquire(blocking=False):
            return txn is None
        try:
            if txn.state == ACTIVE:
                txn.why = why
                self._finish(txn, ABORTED)
            return True
        finally:
            txn.lock.release()

    def _arm_sweep(self, due: float) -> None:
        """Make the timeout sweep run by ``due`` (caller holds ``_lock``)."""
        if due < self._sweep_due:
            if self._sweep is not None:
                self._sweep.cancel()
            self._sweep, self._sweep_due = self._timers.call_at(due, self._expire_idle), due

    def _expire_idle(self) -> None:
        """The timeout sweep: abort every transaction idle for its whole timeout (never one
        whose commit runs), then run again when the next one may be."""
        now = self._clock.now_ms()
        with self._lock:
            self._sweep, self._sweep_due = None, math.inf
            txns = list(self._txns.values())
        next_due = math.inf
        for txn in txns:
            due = txn.last_active + txn.timeout_ms
            if now >= due and txn.state == ACTIVE and self._abandon(
                    txn.id, f"it was idle for longer than its timeout ({txn.timeout_ms} ms)"):
                continue
            next_due = min(next_due, max(due, now + 1))
        with self._lock:
            self._arm_sweep(next_due)

    def _commit(self, txn: _Txn) -> None:
        """Write ``txn`` (steps 1-4 of the module docstring)."""
        by_partition: dict[tuple[str, int], list[Record]] = {}
        for topic, partition, record in txn.records:
            by_partition.setdefault((topic, partition), []).append(record)
        leaders: list[tuple["PartitionLeader", list[Record]]] = []
        for (topic, partition), records in by_partition.items():
            t = self._topics.get(topic)
            if t is None:
                raise TopicNotFoundError(topic, hint="The topic was deleted while the "
                                         "transaction was open; roll the transaction back.")
            if partition >= len(t.partitions):
                raise PartitionNotFoundError(topic, partition, style="not found")
            leaders.append((t.partitions[partition], records))
        offsets = [[g, t, p, o] for (g, t, p), o in txn.offsets.items()]
        if not leaders and not offsets:
            return
        # One-phase commit: one partition and no offsets is one batch, whole or absent after
        # any crash; it saves three of a two-phase commit's four appends.
        if len(leaders) == 1 and not offsets:
            leader, records = leaders[0]
            end = leader.append_one_phase(records)
            if end is not None:
                leader.wait_durable(end)
                return
        with self._lock:
            pid = self._next_pid
            self._next_pid += 1
        parts: list[list] = []   # [topic, partition, first offset] of each registered leader
        decided = False
        try:
            for leader, _ in leaders:
                parts.append([leader.topic, leader.index, leader.begin_transactional(pid)])
            if parts:
                with self._lock:
                    self._write(_encode("P", pid, parts))
                    self._prepared[pid] = parts
                ends = [leader.append_transactional(records, pid, EPOCH)
                        for leader, records in leaders]
                for (leader, _), end in zip(leaders, ends):
                    leader.wait_durable(end)
            with self._lock:
                self._write(_encode("C", pid, offsets or None))
                self._prepared.pop(pid, None)
                if offsets:
                    self._unapplied[pid] = offsets
            decided = True
        finally:
            if not decided:
                self._abort_written(pid, parts, [leader for leader, _ in leaders[:len(parts)]])
        for leader, _ in leaders:
            try:
                leader.end_transactional(pid, EPOCH, True)
            except Exception:  # the decision is durable: the marker is only a courtesy
                log.exception("commit marker of producer %d on %s/%d not written", pid,
                              leader.topic, leader.index)
        if offsets:
            self._apply_offsets(pid, offsets)
        with self._lock:
            self._log.compact_if_due(self._snapshot)

    def _abort_written(self, pid: int, parts: list, leaders: list["PartitionLeader"]) -> None:
        """A commit failed before its decision: whatever it wrote is aborted data."""
        try:
            if parts:
                with self._lock:
                    self._prepared.pop(pid, None)
                    self._aborted[pid] = parts
                    self._write(_encode("A", pid, parts))
        except Exception:  # a PREPARE without decision is aborted on the next open anyway
            log.exception("abort of producer %d not logged", pid)
        finally:
            for leader in leaders:
                try:
                    leader.end_transactional(pid, EPOCH, False)
                except Exception:
                    leader.end_transactional(pid, EPOCH, False, marker=False)

    def _apply_offsets(self, pid: int, offsets: list) -> None:
        """Store a committed transaction's group offsets, then note that they are stored."""
        for group, topic, partition, offset in offsets:
            self._commit_offset(topic, group, partition, offset)
        with self._lock:
            self._write(_encode("D", pid))
            self._unapplied.pop(pid, None)

    def close(self) -> None:
        """Open transactions end with the broker (a restart aborts them: they were never
        written); the log is flushed and closed."""
        with self._lock:
            if self._sweep is not None:
                self._sweep.cancel()
            self._txns.clear()
            self._log.close()
