"""The plugin's broker fixtures under the names the broker tests use, without fsync: these
tests never lose power, and a thousand fsyncs would only slow them down."""

from __future__ import annotations

from pathlib import Path

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.clock import ManualClock


@pytest.fixture
def flymq_broker_config() -> BrokerConfig:
    return BrokerConfig(fsync="never")


@pytest.fixture
def clock(flymq_clock: ManualClock) -> ManualClock:
    return flymq_clock


@pytest.fixture
def data_dir(flymq_data_dir: Path) -> Path:
    return flymq_data_dir


@pytest.fixture
def broker(flymq_broker: Broker) -> Broker:
    return flymq_broker
