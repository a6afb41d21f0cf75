"""docs/storage-format.md describes the recovery checkpoint byte by byte: its table must read
the file the storage writes."""

import re
import struct
from pathlib import Path

from flymq.broker.storage import Record
from flymq.broker.storage.batch import crc32c
from flymq.broker.storage.checkpoint import FILE_NAME

DOC = Path(__file__).resolve().parents[2] / "docs" / "storage-format.md"
_FORMATS = {"i64": "<q", "u32": "<I"}


def documented_layout() -> tuple[int, list[tuple[int, int, str]]]:
    """(total size, [(offset, size, field)]) from the doc's checkpoint table."""
    text = DOC.read_text(encoding="utf-8")
    total = int(re.search(r"`recovery-checkpoint` is (\d+) bytes", text)[1])
    table = text[text.index("`recovery-checkpoint` is"):]
    rows = re.findall(r"^\| (\d+) \| (\d+) \| ([^|]+?) \|", table, re.M)
    return total, [(int(o), int(s), f) for o, s, f in rows[:5]]


def test_the_documented_checkpoint_layout_reads_the_written_file(open_log, tmp_path):
    log = open_log(segment_bytes=1024)
    for _ in range(10):
        log.append([Record(b"v" * 200)])
    base, position, next_offset = log._segments[-1].base_offset, log._active.size, log.end_offset
    log.close()
    raw = (tmp_path / "p" / FILE_NAME).read_bytes()
    total, rows = documented_layout()
    assert len(raw) == total == sum(size for _, size, _ in rows)
    fields = {}
    for offset, size, name in rows:
        kind = re.search(r"\((\w+)\)", name)
        chunk = raw[offset:offset + size]
        fields[name.split(" (")[0]] = struct.unpack(_FORMATS[kind[1]], chunk)[0] if kind else chunk
    assert fields == {"magic": b"FMQC", "segment base": base, "position": position,
                      "next offset": next_offset, "CRC-32C": crc32c(raw[:28])}
    assert base > 0 and position > 0  # a rolled log: the fields are told apart
