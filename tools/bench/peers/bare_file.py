"""The practical upper bound: a bare append-only file written by plain Python.

Same framing size as flymq's log (56-byte batch header with a CRC, 28-byte record header),
one ``os.write`` per batch (a single put is a batch of one), and the same fsync cadence:
``interval`` fsyncs from a thread every 200 ms, ``always`` after each write, ``never`` not.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from tools.bench.peers import EmbeddedQueue

BATCH = struct.Struct("<qIIBBIqqqhiI")    # 56 bytes, as flymq's batch header
RECORD = struct.Struct("<qqiII")          # 28 bytes, as flymq's record header
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
        body = b"".join(RECORD.pack(i, now, -1, len(p), 0) + p for i, p in enumerate(payloads))
        crc = zlib.crc32(body)
        head = BATCH.pack(self.next_offset, BATCH.size - 12 + len(body), crc, 1, 0,
                          len(payloads), now, now, -1, -1, -1, len(body))
        os.write(self.fd, head + body)
        self.next_offset += len(payloads)
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
        unpack_batch, unpack_rec = BATCH.unpack_from, RECORD.unpack_from
        with open(self.path, "rb", buffering=0) as f:
            tail = b""
            while block := f.read(READ_CHUNK):
                buf, pos, out = tail + block, 0, []
                while pos + BATCH.size <= len(buf):
                    length, count = unpack_batch(buf, pos)[1], unpack_batch(buf, pos)[5]
                    end = pos + 12 + length
                    if end > len(buf):
                        break
                    p = pos + BATCH.size
                    for _ in range(count):
                        size = unpack_rec(buf, p)[3]
                        p += RECORD.size
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
