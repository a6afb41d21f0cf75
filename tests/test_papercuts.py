"""What a new user tripped over (issue 17), each checked where it can be."""

from __future__ import annotations

import importlib
import socket
import subprocess
import sys
import time

import pytest

import flymq
import pyflymq
from flymq import FlyMQClient
from flymq.errors import NoAvailableServerError, TopicNotFoundError, UnsupportedOperationError
from flymq.features import not_supported


def test_broker_config_at_top_level():
    from flymq import Broker, BrokerConfig

    with Broker(config=BrokerConfig(fsync="never")) as broker:
        assert broker.config.fsync == "never"


def test_names_flymq_does_not_implement_are_missing_attributes():
    assert not hasattr(pyflymq, "ReactiveConsumer")
    assert not hasattr(flymq, "Encryptor")
    assert not hasattr(pyflymq, "reactive")
    with pytest.raises(AttributeError) as info:
        pyflymq.ReactiveConsumer
    assert "not implemented by flymq yet" in str(info.value)
    assert "flymq[" not in str(info.value)  # no extra that does not exist
    with pytest.raises(ImportError, match="no install or extra provides it"):
        importlib.import_module("pyflymq.crypto")


def test_not_supported_names_flymq_not_a_server_and_no_upgrade():
    exc = not_supported("cluster")
    assert exc.message == f"cluster is not supported yet by flymq {flymq.__version__}"
    assert exc.wire == "cluster is not supported yet by this flymq server"
    assert "upgrade" not in str(exc)
    assert "upgrade" not in (UnsupportedOperationError("x").hint or "")


def test_reading_a_missing_topic_says_what_is_true(client):
    for call in (lambda: client.fetch("absent", 0, 0), lambda: client.consume("absent", 0),
                 lambda: client.subscribe("absent", "g", 0)):
        with pytest.raises(TopicNotFoundError) as info:
            call()
        assert "enable auto-creation" not in str(info.value)


def test_connecting_to_nothing_fails_at_once_and_names_flymq_serve():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(NoAvailableServerError) as info:
        FlyMQClient(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 0.5
    assert "flymq serve" in str(info.value)


def test_serve_help_documents_booleans_and_metavars():
    run = subprocess.run([sys.executable, "-m", "flymq", "serve", "--help"],
                         capture_output=True, text=True, timeout=30)
    assert "--auto-create-topics true|false" in run.stdout
    assert "Booleans take true/false" in run.stdout
    assert "VALUE" not in run.stdout


def test_a_group_consumer_started_before_its_topic_waits_for_it(client, flymq_clock):
    """As Kafka consumers do; the group notices new topics every group_metadata_refresh_ms
    of the broker's clock."""
    with client.consumer("later", group_id="g") as consumer:
        assert consumer.poll(timeout_ms=50) == []
        client.produce("later", b"x")
        got: list = []
        deadline = time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            flymq_clock.advance(1000)
            got = consumer.poll(timeout_ms=200)
        assert [m.value for m in got] == [b"x"]


def test_create_topic_keeps_an_existing_topic_unless_asked_for_an_error(client):
    from flymq.errors import TopicAlreadyExistsError

    client.create_topic("t", 2)
    client.create_topic("t", 3)  # upstream behaviour: succeeds and changes nothing
    assert client.partition_count("t") == 2
    with pytest.raises(TopicAlreadyExistsError):
        client.create_topic("t", 2, exist_ok=False)
    client.create_topic("fresh", 2, exist_ok=False)
    assert client.partition_count("fresh") == 2
