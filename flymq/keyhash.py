"""The partition of a keyed record (wire spec §7.2), as upstream FlyMQ: FNV-1a 32-bit of the
key bytes modulo the partition count, so one key always lands on one partition and every
FlyMQ implementation agrees.

A wire fact, not a broker one: the broker places keyed records by it, and the client's
producers route by it to number their batches per partition, without loading the broker.
"""

from __future__ import annotations

FNV32_OFFSET_BASIS = 0x811C9DC5
FNV32_PRIME = 0x01000193


def fnv1a_32(data: bytes) -> int:
    """FNV-1a 32-bit hash of ``data``."""
    h = FNV32_OFFSET_BASIS
    for b in data:
        h = ((h ^ b) * FNV32_PRIME) & 0xFFFFFFFF
    return h


def key_partition(key: bytes, partitions: int) -> int:
    """The partition of a record with the non-empty ``key`` among ``partitions``."""
    return fnv1a_32(key) % partitions
