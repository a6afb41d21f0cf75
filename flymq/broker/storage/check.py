"""Offline checks of a log directory, for ``flymq inspect``: walk every batch of every
segment, check lengths, offset continuity and (optionally) CRCs, find how far each damage
reaches, and repair what the operator asks to.

Recovery only re-checks what lies after the recovery checkpoint (docs/storage-format.md); a
batch damaged before it is found when read, as ``CorruptRecordError``. This module finds it
without a broker. :func:`repair_log` replaces each damaged stretch that sound batches follow
by a filler batch (a control batch of empty records, which no reader delivers) holding the
same offsets, so the records after it stay where they were, and cuts a damaged tail.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .batch import HEADER, batch_crc_ok, encode_batch, pack_base
from .checkpoint import FILE_NAME as CHECKPOINT_FILE
from .checkpoint import read_checkpoint
from .damage import NO_END, locate_damage
from .files import fsync_dir, write_atomically
from .record import Record
from .segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_SUFFIX, iter_batches
from flymq.errors import CorruptRecordError

READ_CHUNK = 4 << 20  # bytes per read while walking a segment: few syscalls, bounded memory


@dataclass
class Problem:
    """A damaged stretch of a segment: offsets ``[first_offset, end_offset)`` cannot be read
    from bytes ``[position, end_position)``; ``end_offset`` None when no sound batch follows
    in the log (a damaged tail: it ends the log)."""

    position: int
    end_position: int
    first_offset: int
    end_offset: int | None
    detail: str

    def describe(self) -> str:
        offsets = f"offsets {self.first_offset}-{self.end_offset - 1}" \
            if self.end_offset is not None else f"offsets from {self.first_offset} on"
        return f"{offsets} unreadable (bytes {self.position}-{self.end_position}): {self.detail}"


@dataclass
class SegmentCheck:
    """What one segment file holds, and its damaged stretches."""

    path: Path
    base_offset: int
    size: int
    batches: int = 0
    records: int = 0
    next_offset: int = 0
    first_timestamp: int | None = None
    max_timestamp: int | None = None
    problems: list[Problem] = field(default_factory=list)
    padding: int = 0
    """Bytes after the last batch of a sealed segment: no records, never read."""
    padding_zeros: bool = True

    @property
    def problem(self) -> str | None:
        return "; ".join(p.describe() for p in self.problems) or None

    @property
    def note(self) -> str | None:
        if not self.padding:
            return None
        what = "zero bytes" if self.padding_zeros else "bytes"
        return f"{self.padding} {what} after the last batch (no records; never read)"

    def as_dict(self) -> dict:
        return {"file": self.path.name, "base_offset": self.base_offset, "size": self.size,
                "batches": self.batches, "records": self.records,
                "next_offset": self.next_offset, "first_timestamp": self.first_timestamp,
                "max_timestamp": self.max_timestamp,
                "bad_position": self.problems[0].position if self.problems else None,
                "problem": self.problem, "note": self.note,
                "damage": [p.__dict__ for p in self.problems]}


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
        """The offset after the last record (damaged ones included, unless they end it)."""
        return self.segments[-1].next_offset if self.segments else 0

    @property
    def first_problem(self) -> SegmentCheck | None:
        return next((s for s in self.segments if s.problems), None)

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)

    def repairs(self) -> list[str]:
        """What :func:`repair_log` would do, one line per damaged stretch."""
        out = []
        for at, seg in enumerate(self.segments):
            for p in seg.problems:
                if p.end_offset is not None:
                    out.append(f"{seg.path.name}: drop offsets {p.first_offset}-"
                               f"{p.end_offset - 1} ({p.end_offset - p.first_offset} records, "
                               f"bytes {p.position}-{p.end_position}; {p.detail}); the records "
                               "after them keep their offsets")
                else:
                    later = self.segments[at + 1:]
                    out.append(f"{seg.path.name}: cut the tail at byte {p.position} (offset "
                               f"{p.first_offset} on; {seg.size - p.position + sum(s.size for s in later)}"
                               f" bytes{f' and {len(later)} later segment file(s)' if later else ''};"
                               f" {p.detail})")
        return out


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
    the CRC of every batch with ``verify``; ``progress(n)`` is told of each n bytes walked.
    A sealed segment ends at the next one's base offset: bytes after its last batch are
    padding, not damage."""
    cp = read_checkpoint(directory)
    result = LogCheck(directory, checkpoint_offset=cp.next_offset if cp else None)
    files = segment_files(directory)
    expected: int | None = None
    for i, (base, path) in enumerate(files):
        seg = SegmentCheck(path, base, path.stat().st_size, next_offset=base)
        result.segments.append(seg)
        if expected is not None and base != expected:
            seg.problems.append(Problem(0, seg.size, expected, None,
                                        f"starts at offset {base}, expected {expected}"))
            seg.next_offset = expected
            break
        _walk(seg, verify, progress, files[i + 1][0] if i + 1 < len(files) else None)
        expected = seg.next_offset
        if seg.problems and seg.problems[-1].end_offset is None:
            break
    return result


def _walk(seg: SegmentCheck, verify: bool, progress: Callable[[int], None] | None,
          end_offset: int | None) -> None:
    """Walk ``seg`` up to ``end_offset`` (None: its file's end), noting each damaged stretch
    and going on from the next sound batch after it."""
    fd = os.open(seg.path, os.O_RDONLY)
    where = str(seg.path)
    pos = 0
    try:
        while pos < seg.size:
            try:
                for at, buf, p, total in iter_batches(fd, pos, seg.size, READ_CHUNK, where=where):
                    fields = HEADER.unpack_from(buf, p)
                    base, count, first_ts, max_ts = fields[0], fields[5], fields[6], fields[7]
                    if base != seg.next_offset:
                        raise CorruptRecordError(where, at, f"batch at byte {at} starts at "
                                                            f"offset {base}, expected {seg.next_offset}")
                    if count < 1:
                        raise CorruptRecordError(where, at, f"batch at byte {at} holds no record")
                    if verify and not batch_crc_ok(buf, p, total):
                        raise CorruptRecordError(where, at, f"CRC mismatch in the batch at byte {at}")
                    _count(seg, count, first_ts, max_ts)
                    pos = at + total
                    if progress is not None:
                        progress(total)
                    if end_offset is not None and seg.next_offset >= end_offset:
                        _note_padding(fd, seg, pos)
                        return
                return
            except CorruptRecordError as exc:
                damage = locate_damage(fd, exc.position, seg.size, seg.next_offset,
                                       NO_END if end_offset is None else end_offset)
                ends_log = end_offset is None and damage.end_position >= seg.size
                seg.problems.append(Problem(exc.position, damage.end_position, seg.next_offset,
                                            None if ends_log else damage.end_offset, exc.detail))
                if ends_log:
                    return
                seg.next_offset, pos = damage.end_offset, damage.end_position
    finally:
        os.close(fd)


def _count(seg: SegmentCheck, count: int, first_ts: int, max_ts: int) -> None:
    seg.batches += 1
    seg.records += count
    seg.next_offset += count
    if seg.first_timestamp is None:
        seg.first_timestamp = first_ts
    seg.max_timestamp = max_ts if seg.max_timestamp is None else max(seg.max_timestamp, max_ts)


def _note_padding(fd: int, seg: SegmentCheck, pos: int) -> None:
    seg.padding = seg.size - pos
    if seg.padding:
        tail = os.pread(fd, seg.padding, pos)
        seg.padding_zeros = tail.count(0) == len(tail)


def repair_log(check: LogCheck) -> None:
    """Repair what :meth:`LogCheck.repairs` describes: each damaged stretch that sound batches
    follow becomes a filler batch holding its offsets; a damaged tail is cut, with every
    later segment. The segments' indexes and the recovery checkpoint are dropped so the next
    open rebuilds them from a scan. The caller holds the directory's lock (no broker may have
    it open)."""
    for at, seg in enumerate(check.segments):
        if not seg.problems:
            continue
        tail = seg.problems[-1] if seg.problems[-1].end_offset is None else None
        if tail is not None:
            for later in check.segments[at + 1:]:
                _remove_segment(later.path)
        if tail is not None and tail.position == 0 and len(seg.problems) == 1:
            _remove_segment(seg.path)
        else:
            write_atomically(seg.path, _repaired(seg, tail), sync_dir=False)
            for suffix in (INDEX_SUFFIX, TIME_SUFFIX):
                seg.path.with_suffix(suffix).unlink(missing_ok=True)
        if tail is not None:
            break
    (check.directory / CHECKPOINT_FILE).unlink(missing_ok=True)
    fsync_dir(check.directory)


def _repaired(seg: SegmentCheck, tail: Problem | None) -> bytes:
    """The segment's bytes with each damaged stretch replaced by a filler, cut at ``tail``."""
    data = seg.path.read_bytes()
    pieces, kept = [], 0
    for p in seg.problems:
        pieces.append(data[kept:p.position])
        if p is tail:
            return b"".join(pieces)
        pieces.append(_filler(p.first_offset, p.end_offset, seg.max_timestamp or 0))
        kept = p.end_position
    pieces.append(data[kept:seg.size - seg.padding])
    return b"".join(pieces)


def _filler(first: int, end: int, timestamp: int) -> bytes:
    """A control batch of ``end - first`` empty records at ``first``: the offsets stay dense,
    and readers skip control batches as they skip transaction markers."""
    body = encode_batch([Record(b"", timestamp=timestamp)] * (end - first), timestamp,
                        control=True)[0]
    return pack_base(first) + body


def _remove_segment(path: Path) -> None:
    for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_SUFFIX):
        path.with_suffix(suffix).unlink(missing_ok=True)
