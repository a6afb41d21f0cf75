"""Offline checks of a log directory, for ``flymq inspect``: walk every batch of every
segment, check lengths, offset continuity and (optionally) CRCs, and cut a corrupt tail.

Recovery only re-checks what lies after the recovery checkpoint (docs/storage-format.md); a
batch damaged before it is found when read, as ``CorruptRecordError``. This module finds it
without a broker and, with :func:`repair_log`, truncates the log at the first bad byte.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .batch import HEADER, batch_crc_ok
from .checkpoint import FILE_NAME as CHECKPOINT_FILE
from .checkpoint import read_checkpoint
from .files import fsync_dir
from .segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_SUFFIX, iter_batches
from flymq.errors import CorruptRecordError

READ_CHUNK = 4 << 20  # bytes per read while walking a segment: few syscalls, bounded memory


@dataclass
class SegmentCheck:
    """What one segment file holds, up to its first problem (if any)."""

    path: Path
    base_offset: int
    size: int
    batches: int = 0
    records: int = 0
    next_offset: int = 0
    first_timestamp: int | None = None
    max_timestamp: int | None = None
    bad_position: int | None = None
    """Byte position of the first batch that failed a check; None when the segment is sound."""
    problem: str | None = None

    def as_dict(self) -> dict:
        return {"file": self.path.name, "base_offset": self.base_offset, "size": self.size,
                "batches": self.batches, "records": self.records,
                "next_offset": self.next_offset, "first_timestamp": self.first_timestamp,
                "max_timestamp": self.max_timestamp, "bad_position": self.bad_position,
                "problem": self.problem}


@dataclass
class LogCheck:
    """Every segment of one log directory, oldest first."""

    directory: Path
    segments: list[SegmentCheck] = field(default_factory=list)
    checkpoint_offset: int | None = None

    @property
    def start_offset(self) -> int:
        return self.segments[0].base_offset if self.segments else 0

    @property
    def end_offset(self) -> int:
        """The offset after the last sound record."""
        end = self.start_offset
        for seg in self.segments:
            end = seg.next_offset
            if seg.problem:
                break
        return end

    @property
    def first_problem(self) -> SegmentCheck | None:
        return next((s for s in self.segments if s.problem), None)

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)

    def bytes_after_problem(self) -> int:
        """What :func:`repair_log` would remove: the bad tail of the first bad segment and
        every later segment."""
        bad = self.first_problem
        if bad is None:
            return 0
        later = self.segments[self.segments.index(bad) + 1:]
        return bad.size - bad.bad_position + sum(s.size for s in later)


def segment_files(directory: Path) -> list[tuple[int, Path]]:
    """``(base offset, path)`` of each segment log file, in offset order."""
    found = []
    for entry in os.scandir(directory):
        name = entry.name
        if name.endswith(LOG_SUFFIX) and name[:-len(LOG_SUFFIX)].isdigit():
            found.append((int(name[:-len(LOG_SUFFIX)]), Path(entry.path)))
    return sorted(found)


def check_log(directory: Path, *, verify: bool = False,
              progress: Callable[[int], None] | None = None) -> LogCheck:
    """Walk every batch of the log in ``directory``: lengths and offset continuity always,
    the CRC of every batch with ``verify``; ``progress(n)`` is told of each n bytes walked."""
    cp = read_checkpoint(directory)
    result = LogCheck(directory, checkpoint_offset=cp.next_offset if cp else None)
    expected: int | None = None
    for base, path in segment_files(directory):
        seg = SegmentCheck(path, base, path.stat().st_size, next_offset=base)
        result.segments.append(seg)
        if expected is not None and base != expected:
            seg.bad_position, seg.problem = 0, f"starts at offset {base}, expected {expected}"
            break
        _walk(seg, verify, progress)
        expected = seg.next_offset
        if seg.problem:
            break
    return result


def _walk(seg: SegmentCheck, verify: bool, progress: Callable[[int], None] | None) -> None:
    fd = os.open(seg.path, os.O_RDONLY)
    pos = 0
    try:
        for pos, buf, p, total in iter_batches(fd, 0, seg.size, READ_CHUNK, where=str(seg.path)):
            fields = HEADER.unpack_from(buf, p)
            base, count, first_ts, max_ts = fields[0], fields[5], fields[6], fields[7]
            if base != seg.next_offset:
                seg.bad_position = pos
                seg.problem = f"batch at byte {pos} starts at offset {base}, expected " \
                              f"{seg.next_offset}"
                return
            if verify and not batch_crc_ok(buf, p, total):
                seg.bad_position, seg.problem = pos, f"CRC mismatch in the batch at byte {pos}"
                return
            seg.batches += 1
            seg.records += count
            seg.next_offset = base + count
            if seg.first_timestamp is None:
                seg.first_timestamp = first_ts
            seg.max_timestamp = max_ts if seg.max_timestamp is None else \
                max(seg.max_timestamp, max_ts)
            if progress is not None:
                progress(total)
    except CorruptRecordError as exc:
        seg.bad_position, seg.problem = exc.position, exc.detail
    finally:
        os.close(fd)


def repair_log(check: LogCheck) -> int:
    """Cut the log at its first problem: truncate that segment there, delete every later
    segment, and drop the segment's indexes and the recovery checkpoint so the next open
    rebuilds them from a scan. Returns the bytes removed. The caller holds the directory's
    lock (no broker may have it open)."""
    bad = check.first_problem
    if bad is None:
        return 0
    removed = check.bytes_after_problem()
    at = check.segments.index(bad)
    for seg in check.segments[at + 1:]:
        _remove_segment(seg.path)
    if bad.bad_position == 0:
        _remove_segment(bad.path)
    else:
        os.truncate(bad.path, bad.bad_position)
        for suffix in (INDEX_SUFFIX, TIME_SUFFIX):
            bad.path.with_suffix(suffix).unlink(missing_ok=True)
    (check.directory / CHECKPOINT_FILE).unlink(missing_ok=True)
    fsync_dir(check.directory)
    return removed


def _remove_segment(path: Path) -> None:
    for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_SUFFIX):
        path.with_suffix(suffix).unlink(missing_ok=True)
