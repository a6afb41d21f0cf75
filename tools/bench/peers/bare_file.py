"""The practical upper bound: a bare append-only file written by plain Python.

It does the work flymq's log cannot skip and nothing else: the same batch framing (56-byte
header, then a column of u32 value lengths and the values, as docs/storage-format.md lays out
a batch of keyless records), the same checksum (CRC-32C over the header fields after the CRC and
the records, with the best CRC-32C implementation installed, as flymq picks it), one
``os.write`` per batch (a single put is a batch of one), and the same fsync cadence:
``interval`` fsyncs from a thread every 200 ms, ``always`` after each write, ``never`` not.
What it skips: offset and time indexes, locking, segment rolling and recovery checkpoints.

(It used zlib's CRC-32 before: a different, hardware-accelerated checksum about 8x cheaper
than the CRC-32C the format requires, which made the comparison unfair to flymq.)
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from flymq.broker.storage.batch import crc32c  # the implementation flymq itself picked
from tools.bench.peers import EmbeddedQueue

BATCH = struct.Struct("<qIIBBIqqqhiI")    # 56 bytes, as flymq's batch header
COVERED = struct.Struct("<BBIqqqhiI")     # the header fields after the CRC
LENGTH_CRC = struct.Struct("<qII")        # base offset, length, CRC
FSYNC_INTERVAL_S = 0.2
READ_CHUNK = 16 * 1024 * 1024


class _Flusher(threading.Thread):
    """fsyncs a file descriptor every interval until stopped."""

    def __init__(self, fd: int, interval: float) -> None:
        super().__init__(daemon=True, name="bare-file-flusher")
        self.fd, self.interval, self.stopped = fd, interval, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            os.fsync(self.fd)


class BareFile(EmbeddedQueue):
    name = "bare file"
    can_batch = True

    def __init__(self, directory: Path, fsync: str) -> None:
        self.path = directory / "bare.log"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.fsync, self.next_offset = fsync, 0
        self.flusher = _Flusher(self.fd, FSYNC_INTERVAL_S) if fsync == "interval" else None
        if self.flusher:
            self.flusher.start()

    def _write(self, payloads: Sequence[bytes]) -> None:
        now = time.time_ns() // 1_000_000
        n = len(payloads)
        records = struct.pack(f"<{n}I", *map(len, payloads)) + b"".join(payloads)
        covered = COVERED.pack(1, 0, n, now, now, -1, -1, -1, len(records))
        crc = crc32c(records, crc32c(covered))
        head = LENGTH_CRC.pack(self.next_offset, BATCH.size - 12 + len(records), crc)
        os.write(self.fd, head + covered + records)
        self.next_offset += n
        if self.fsync == "always":
            os.fsync(self.fd)

    def put_each(self, payloads: Sequence[bytes]) -> None:
        for p in payloads:
            self._write((p,))

    def put_batched(self, payloads: Sequence[bytes], batch: int) -> None:
        for i in range(0, len(payloads), batch):
            self._write(payloads[i:i + batch])

    def drain(self) -> list:
        chunks: list[list[bytes]] = []
        unpack_batch = BATCH.unpack_from
        with open(self.path, "rb", buffering=0) as f:
            tail = b""
            while block := f.read(READ_CHUNK):
                buf, pos, out = tail + block, 0, []
                while pos + BATCH.size <= len(buf):
                    fields = unpack_batch(buf, pos)
                    length, count = fields[1], fields[5]
                    end = pos + 12 + length
                    if end > len(buf):
                        break
                    p = pos + BATCH.size + 4 * count
                    for size in struct.unpack_from(f"<{count}I", buf, pos + BATCH.size):
                        out.append(buf[p:p + size])
                        p += size
                    pos = end
                chunks.append(out)
                tail = buf[pos:]
        return chunks

    def close(self) -> None:
        if self.flusher:
            self.flusher.stopped.set()
            self.flusher.join()
        os.fsync(self.fd)
        os.close(self.fd)
