"""Payloads that can be told apart, and order-independent checksums to verify delivery."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

_MASK = (1 << 64) - 1
_FILL = b"flymq-benchmark-payload/" * 4096


class VerificationError(AssertionError):
    """Messages were lost, duplicated or corrupted: the run must not report a figure."""


def make_payload(tag: int, seq: int, size: int) -> bytes:
    """A unique ASCII payload of ``size`` bytes (>= 20): tag and sequence, then filler."""
    head = b"%06d:%012d:" % (tag % 1_000_000, seq)
    return head + _FILL[: size - len(head)] if size > len(head) else head[:size]


def make_payloads(tag: int, count: int, size: int, start: int = 0) -> list[bytes]:
    return [make_payload(tag, i, size) for i in range(start, start + count)]


def payload_seq(payload: bytes) -> int:
    """The sequence number that :func:`make_payload` put in ``payload``."""
    return int(payload[7:19])


@dataclass
class Checksum:
    """Count plus a sum of CRC32s: equal only if the same multiset of payloads was seen."""

    count: int = 0
    total: int = 0

    def add(self, payload: bytes) -> None:
        self.count += 1
        self.total = (self.total + zlib.crc32(payload)) & _MASK

    def add_all(self, payloads: Iterable[bytes]) -> "Checksum":
        crc = zlib.crc32
        total = self.total
        n = 0
        for p in payloads:
            total += crc(p)
            n += 1
        self.count += n
        self.total = total & _MASK
        return self

    def merge(self, other: "Checksum") -> "Checksum":
        return Checksum(self.count + other.count, (self.total + other.total) & _MASK)

    @classmethod
    def of(cls, payloads: Iterable[bytes]) -> "Checksum":
        return cls().add_all(payloads)


def expect_same(what: str, produced: Checksum, consumed: Checksum) -> None:
    """Raise :class:`VerificationError` unless everything produced came back exactly once."""
    if produced != consumed:
        raise VerificationError(
            f"{what}: produced {produced.count} messages (checksum {produced.total:#x}) but "
            f"consumed {consumed.count} (checksum {consumed.total:#x})")
