"""A small durable state kept as a compacted internal log.

A coordinator (consumer groups today; transactions, delayed messages, schemas, users and ACLs
next) keeps its state in memory and every change to it in a :class:`StateLog`:

- on open, it applies the changes :meth:`StateLog.replay` yields, oldest first, to an empty
  state;
- to change the state, it encodes the change as bytes, hands it to :meth:`StateLog.append`
  (the change is then as durable as the log's fsync policy promises) and only then applies it
  in memory, so that memory never shows what a crash could lose;
- after applying, it calls :meth:`StateLog.compact_if_due` with a function giving its whole
  state as changes that rebuild it: when the log has grown to four times that (and at least
  ``compact_min_records``), that snapshot replaces the log.

The coordinator serialises its calls with its own lock. The log is never cut by retention:
compaction is what keeps it small.

Compaction writes the snapshot as a new log in the scratch directory ``<dir>.new``, then swaps
it in by two renames: ``<dir>`` to ``<dir>.old``, ``<dir>.new`` to ``<dir>``. Opening finishes
a swap a crash interrupted between the renames (the snapshot was complete before the first)
and otherwise discards the scratch and old directories, so ``kill -9`` at any point leaves
either the whole old log or the whole snapshot.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator

from flymq.broker.storage import Flusher, LogConfig, PartitionLog
from flymq.broker.storage.files import fsync_dir
from flymq.clock import Clock
from flymq.errors import CorruptRecordError

_CHUNK = 1000  # changes per batch when replaying or writing a snapshot
log = logging.getLogger(__name__)


class StateLog:
    """The changes of one coordinator's state, kept in ``directory`` (and, while compacting,
    in its siblings ``<directory>.new`` and ``.old``); ``name`` (e.g. ``__consumer_offsets/0``)
    names the log in storage errors. Not thread-safe: the coordinator holds its lock around
    every call."""

    def __init__(self, directory: Path, *, name: str, log_config: LogConfig, clock: Clock,
                 flusher: Flusher | None, compact_min_records: int = 10_000,
                 upserts: bool = False):
        self._dir = directory
        self._new = directory.with_name(directory.name + ".new")
        self._old = directory.with_name(directory.name + ".old")
        self._name = name
        self._log_config = log_config
        self._clock = clock
        self._flusher = flusher
        self._compact_min = compact_min_records
        self._compact_at = compact_min_records  # the live size is unknown until a snapshot
        # Each change sets its key's whole value: one lost in the middle costs no more than
        # one lost at the tail (the key keeps its previous value), so replay may skip it.
        self._upserts = upserts
        directory.parent.mkdir(parents=True, exist_ok=True)
        if not directory.exists() and self._new.exists():  # crashed between the two renames
            os.rename(self._new, directory)
            fsync_dir(directory.parent)
        self._discard_scratch()
        self._log = self._open(directory)

    def _open(self, directory: Path) -> PartitionLog:
        return PartitionLog(directory, self._log_config, clock=self._clock,
                            flusher=self._flusher, name=self._name)

    def _discard_scratch(self) -> None:
        """Remove what an unfinished or interrupted compaction left behind."""
        for leftover in (self._new, self._old):
            shutil.rmtree(leftover, ignore_errors=True)

    @property
    def end_offset(self) -> int:
        """The offset the next change gets; compaction restarts the log at 0, so this is also
        how many changes it holds."""
        return self._log.end_offset

    def replay(self) -> Iterator[bytes]:
        """Every change in the log, oldest first (read once, right after opening)."""
        position, end = self._log.start_offset, self._log.end_offset
        while position < end:
            try:
                records = self._log.read(position, _CHUNK)
            except CorruptRecordError as exc:
                if self._skips(exc):
                    position = exc.end_offset
                    continue
                self._drop_damaged_tail(exc)
                return
            if not records:
                return
            for record in records:
                if not record.control:  # a filler left by `flymq inspect --repair`
                    yield record.value
            position = records[-1].offset + 1

    def _skips(self, damage: CorruptRecordError) -> bool:
        """True (and says so) when replay goes on past ``damage``: an upsert log whose damage
        sound records follow. The damaged bytes stay until a compaction rewrites the log."""
        if not self._upserts or damage.first_offset is None \
                or damage.end_offset >= self._log.end_offset:
            return False
        log.warning("%s: damaged changes skipped, they are lost (later changes of their keys "
                    "stand): offsets %d-%d, bytes %d-%d of %s (%s)", self._name,
                    damage.first_offset, damage.end_offset - 1, damage.position,
                    damage.end_position, damage.path, damage.detail)
        return True

    def _drop_damaged_tail(self, damage: CorruptRecordError) -> None:
        """Cut the log where ``damage`` starts when no sound record follows it (bytes that a
        crash or the disk damaged at the end: the changes they held are lost either way), and
        say so; refuse to go on when sound records follow, since dropping a change in the
        middle could leave a state no sequence of changes made (docs/storage-format.md)."""
        if damage.first_offset is None or damage.end_offset < self._log.end_offset:
            raise CorruptRecordError(
                damage.path, damage.position, damage.detail, topic=damage.topic,
                partition=damage.partition, end_position=damage.end_position,
                offsets=None if damage.first_offset is None else
                (damage.first_offset, damage.end_offset),
                hint="Sound records follow the damage, so flymq does not drop it on its own: "
                     "stop the broker and run `flymq inspect DATA_DIR --verify --repair` "
                     "(it says which records it drops), or restore the directory from a backup.")
        log.warning("%s: damaged tail dropped, its changes are lost: offsets %d-%d, bytes %d-%d "
                    "of %s (%s)", self._name, damage.first_offset, damage.end_offset - 1,
                    damage.position, damage.end_position, damage.path, damage.detail)
        self._log.truncate(damage.first_offset, damaged_from=damage.position)

    def append(self, *changes: bytes) -> None:
        """Store ``changes`` in order, as one batch: after a crash, replay yields all of them
        or none. Durable, under the log's fsync policy, when this returns."""
        if changes:
            self._log.append_values(changes)

    def compact_if_due(self, snapshot: Callable[[], Iterable[bytes]]) -> bool:
        """Compact when the log holds at least ``compact_min_records`` changes and four times
        as many as ``snapshot()`` (the live state as changes) gives; True when it did.

        ``snapshot`` is called only once the log has reached the last known threshold, so a
        coordinator need not keep count of its live entries.
        """
        if self.end_offset < self._compact_at:
            return False
        state = list(snapshot())
        self._compact_at = self._threshold(len(state))
        if self.end_offset < self._compact_at:
            return False  # mostly live: look again when the log has grown that far
        self.compact(state)
        return True

    def _threshold(self, live: int) -> int:
        return max(self._compact_min, 4 * live)

    def compact(self, snapshot: Iterable[bytes]) -> None:
        """Replace the log with ``snapshot``: changes that rebuild the current state."""
        self._discard_scratch()
        fresh = self._open(self._new)
        written = 0
        try:
            changes = iter(snapshot)
            while chunk := list(itertools.islice(changes, _CHUNK)):
                fresh.append_values(chunk)
                written += len(chunk)
            fresh.flush()
        finally:
            fresh.close()
        fsync_dir(self._dir.parent)  # the complete snapshot is on disk before the swap
        self._log.close()
        os.rename(self._dir, self._old)
        os.rename(self._new, self._dir)
        fsync_dir(self._dir.parent)
        shutil.rmtree(self._old, ignore_errors=True)
        self._log = self._open(self._dir)
        self._compact_at = self._threshold(written)

    def close(self) -> None:
        self._log.close()


class LazyStateLog:
    """A :class:`StateLog` opened, and its directory created, on first use: a broker whose
    coordinator is never used does not pay for its log at every start (the directory
    creation and fsyncs cost milliseconds of a ~40 ms ``Broker()``). Same methods."""

    def __init__(self, directory: Path, **state_log_args: object):
        self._dir = directory
        self._args = state_log_args
        self._log: StateLog | None = None

    @property
    def log(self) -> StateLog:
        if self._log is None:
            self._log = StateLog(self._dir, **self._args)  # type: ignore[arg-type]
        return self._log

    def replay(self) -> Iterator[bytes]:
        """As :meth:`StateLog.replay`; nothing (and no log created) when none exists yet."""
        new = self._dir.with_name(self._dir.name + ".new")
        if self._log is None and not (self._dir.exists() or new.exists()):
            return iter(())
        return self.log.replay()

    def append(self, *changes: bytes) -> None:
        self.log.append(*changes)

    def compact_if_due(self, snapshot: Callable[[], Iterable[bytes]]) -> bool:
        return self.log.compact_if_due(snapshot)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
