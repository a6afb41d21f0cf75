"""Schema-registry tests: clients on both transports of one broker, and helpers."""

from __future__ import annotations

import json

import pytest

from flymq.broker import BrokerConfig

#: The registry's definition limit in these tests, small enough to exceed cheaply.
MAX_SCHEMA_BYTES = 64 * 1024


@pytest.fixture
def flymq_broker_config() -> BrokerConfig:
    return BrokerConfig(fsync="never", max_schema_bytes=MAX_SCHEMA_BYTES)


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()
