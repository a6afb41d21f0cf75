"""The recovery checkpoint: a tiny file naming a log position known to be durable and valid.

Recovery scans (and CRC-checks) only what lies after it, which is what keeps reopening a
large log fast. It is written atomically (temp file, fsync, rename) and only ever names a
position whose bytes were fsynced first.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import NamedTuple

from .batch import crc32c
from .files import write_atomically

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
    """Replace the checkpoint atomically; ``sync_dir`` also makes the rename itself durable
    (needed after a truncation, when the old checkpoint would point past the new end)."""
    body = _LAYOUT.pack(_MAGIC, *cp, 0)[:-4]
    write_atomically(directory / FILE_NAME, body + struct.pack("<I", crc32c(body)),
                     sync_dir=sync_dir)
