"""FNV-1a partition choice (wire spec §7.2 test vectors) and round-robin."""

from __future__ import annotations

import pytest

from flymq.broker.partitioner import RoundRobin, choose_partition
from flymq.keyhash import fnv1a_32, key_partition

VECTORS = [  # key, hash, partition for n = 2, 3, 4, 6, 8
    (b"a", 0xE40C292C, (0, 1, 0, 4, 4)),
    (b"key", 0x6815C86C, (0, 1, 0, 4, 4)),
    (b"user-123", 0x8C93CC93, (1, 2, 3, 5, 3)),
    (b"user-456", 0x58E2C8F4, (0, 2, 0, 2, 4)),
    (b"order-1", 0x2B7FCD6D, (1, 1, 1, 1, 5)),
]


@pytest.mark.parametrize("key,expected,partitions", VECTORS)
def test_fnv1a_vectors(key: bytes, expected: int, partitions: tuple[int, ...]) -> None:
    assert fnv1a_32(key) == expected
    rr = RoundRobin()
    for n, p in zip((2, 3, 4, 6, 8), partitions):
        assert choose_partition(key, n, rr) == key_partition(key, n) == p


def test_empty_input_is_the_offset_basis() -> None:
    assert fnv1a_32(b"") == 0x811C9DC5


def test_unkeyed_records_go_round_robin_from_zero() -> None:
    rr = RoundRobin()
    assert [choose_partition(None, 3, rr) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert choose_partition(b"", 3, rr) == 1  # an empty key is no key


def test_single_partition_does_not_advance_the_counter() -> None:
    rr = RoundRobin()
    assert [choose_partition(None, 1, rr) for _ in range(5)] == [0] * 5
    assert choose_partition(None, 4, rr) == 0
