"""The recovery checkpoint: a tiny file naming a log position known to be durable and valid.

Recovery scans (and CRC-checks) only what lies after it, which is what keeps reopening a
large log fast. It only ever names a position whose bytes were fsynced first. Its frequent
moves (every flush interval, for every dirty partition) overwrite it in place with one write
and no fsync: a move lost or torn by a power cut leaves an older checkpoint or none (its CRC
fails), and recovery then scans more, never less. A temp file, its fsync and a rename per
move cost the flusher six system calls and two disk waits per partition, each one a hand-off
of the interpreter lock with the serving thread. After a truncation the old checkpoint would
name a position past the new end, so that one is replaced atomically and durably.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import NamedTuple

from .batch import crc32c
from .files import overwrite, write_atomically

FILE_NAME = "recovery-checkpoint"
_LAYOUT = struct.Struct("<4sqqqI")   # magic, segment base, position, next offset, crc
_MAGIC = b"FMQC"


class Checkpoint(NamedTuple):
    segment_base: int
    position: int
    next_offset: int


def read_checkpoint(directory: Path) -> Checkpoint | None:
    """The stored checkpoint, or None when it is missing or damaged (then recovery scans more)."""
    try:
        raw = (directory / FILE_NAME).read_bytes()
    except FileNotFoundError:
        return None
    if len(raw) != _LAYOUT.size:
        return None
    magic, base, pos, nxt, crc = _LAYOUT.unpack(raw)
    if magic != _MAGIC or crc != crc32c(raw[:-4]):
        return None
    return Checkpoint(base, pos, nxt)


def write_checkpoint(directory: Path, cp: Checkpoint, *, sync_dir: bool) -> None:
    """Store ``cp``: in place, or with ``sync_dir`` atomically and durably (temp file, fsync,
    rename, directory fsync: after a truncation)."""
    body = _LAYOUT.pack(_MAGIC, *cp, 0)[:-4]
    raw = body + struct.pack("<I", crc32c(body))
    if sync_dir:
        write_atomically(directory / FILE_NAME, raw)
    else:
        overwrite(directory / FILE_NAME, raw)
