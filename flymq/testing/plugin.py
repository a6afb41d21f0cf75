"""The flymq pytest plugin: fixtures for tests of code that uses flymq.

Installing flymq registers this module with pytest (a ``pytest11`` entry point), so the
fixtures are there in every test session without a conftest line; ``pytest --fixtures``
lists them with these docstrings. Everything that does not need pytest lives in
:mod:`flymq.testing` (servers, redirects, fault injection, the proxy).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from flymq.client.client import FlyMQClient
from flymq.clock import ManualClock
from flymq.testing import ServeProcess, start_server
from flymq.testing.faults import Faults
from flymq.testing.proxy import FaultyProxy

if TYPE_CHECKING:
    from flymq.broker import Broker, BrokerConfig


@pytest.fixture
def flymq_clock() -> ManualClock:
    """The ManualClock of ``flymq_broker``: time stands still until the test calls
    ``flymq_clock.advance(ms)``, which runs every timer that became due before it returns.
    It drives delays, TTL and the consumers of embedded clients (retry backoffs, heartbeats;
    ``FlyMQClient.clock``); a TCP client's consumer takes ``clock=flymq_clock``."""
    return ManualClock()


@pytest.fixture
def flymq_broker_config() -> "BrokerConfig":
    """The BrokerConfig ``flymq_broker`` opens with: the defaults, unless a conftest
    overrides this fixture (e.g. ``BrokerConfig(fsync="never")`` where no test needs
    power-loss durability)."""
    from flymq.broker import BrokerConfig

    return BrokerConfig()


@pytest.fixture
def flymq_data_dir(tmp_path: Path) -> Path:
    """Where ``flymq_broker`` keeps its data (under ``tmp_path``); a test may reopen a broker
    there once the fixture's is closed."""
    return tmp_path / "flymq-data"


@pytest.fixture
def flymq_broker(flymq_data_dir: Path, flymq_broker_config: "BrokerConfig",
                 flymq_clock: ManualClock) -> Iterator["Broker"]:
    """A fresh embedded Broker in ``flymq_data_dir`` on ``flymq_clock``, closed after the
    test. ``flymq_broker.crash()`` / ``.restart()`` simulate a kill -9 and a restart."""
    from flymq.broker import Broker

    with Broker(flymq_data_dir, flymq_broker_config, clock=flymq_clock) as broker:
        yield broker


@pytest.fixture
def flymq_strict_broker(tmp_path: Path, flymq_broker_config: "BrokerConfig",
                        flymq_clock: ManualClock) -> Iterator["Broker"]:
    """Like ``flymq_broker`` but with ``auto_create_topics`` off, as a production broker is
    often run: producing to a topic nobody created fails with TopicNotFoundError."""
    import dataclasses

    from flymq.broker import Broker

    config = dataclasses.replace(flymq_broker_config, auto_create_topics=False)
    with Broker(tmp_path / "flymq-strict-data", config, clock=flymq_clock) as broker:
        yield broker


@pytest.fixture
def flymq_client(flymq_broker: "Broker") -> Iterator[FlyMQClient]:
    """A FlyMQClient of ``flymq_broker`` through the embedded transport, closed after the
    test."""
    with FlyMQClient(broker=flymq_broker) as client:
        yield client


@pytest.fixture
def flymq_server(flymq_broker: "Broker") -> Iterator[str]:
    """``flymq_broker`` served over TCP on a free port of 127.0.0.1, in a thread of this
    process; yields ``"host:port"`` for ``FlyMQClient``. ``flymq_proxy`` puts a proxy in
    front of it whose connections can be dropped or delayed."""
    with start_server(flymq_broker) as server:
        yield "%s:%d" % server.address


@pytest.fixture
def flymq_faults(flymq_broker: "Broker") -> Iterator[Faults]:
    """Fault injection for ``flymq_broker`` (so for ``flymq_client`` and ``flymq_server``
    alike): ``fail_next("produce", 3, error)``, ``pause(topic, partition)``,
    ``limit_disk(bytes)``; removed after the test."""
    with Faults(flymq_broker) as faults:
        yield faults


@pytest.fixture
def flymq_proxy(flymq_server: str) -> Iterator[FaultyProxy]:
    """A TCP proxy in front of ``flymq_server``: connect to ``flymq_proxy.address``, then
    ``drop()`` every connection, ``delay(ms)`` every byte, ``refuse()`` new connections or
    ``heal()``."""
    with FaultyProxy(flymq_server) as proxy:
        yield proxy


@pytest.fixture
def flymq_serve_process(tmp_path: Path) -> Iterator[ServeProcess]:
    """A real ``flymq serve`` subprocess on a free port with its data in ``tmp_path``
    (``.bootstrap`` is its "host:port"; ``.kill()`` sends SIGKILL); stopped after the test."""
    with ServeProcess("--port", "0", "--data-dir", str(tmp_path / "flymq-serve-data")) as proc:
        yield proc
