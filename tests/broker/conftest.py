from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000_000)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def broker(data_dir: Path, clock: ManualClock) -> Iterator[Broker]:
    with Broker(data_dir, BrokerConfig(fsync="never"), clock=clock) as b:
        yield b
