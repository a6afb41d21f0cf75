"""Sessions: who calls the broker, and what they own until they close."""

from __future__ import annotations

import pytest

from flymq import FlyMQClient
from flymq.broker import Broker
from flymq.errors import BrokerClosedError
from flymq.features import KNOWN, SERVED


def _members(broker: Broker, topic: str, group: str) -> int:
    return broker.describe_consumer_group(topic, group)["members"]


def test_a_session_carries_its_caller(broker):
    session = broker.open_session(principal="alice", client_id="10.0.0.1:5000")
    assert (session.principal, session.client_id) == ("alice", "10.0.0.1:5000")
    assert session.member_id != broker.open_session(client_id="10.0.0.1:5000").member_id
    assert session.whoami().username == "alice"
    assert session.authenticate("bob", "secret").success
    assert session.whoami().username == "bob" and session.principal == "bob"


def test_closing_a_session_leaves_its_groups_only(broker):
    broker.create_topic("t")
    first, second = broker.open_session(client_id="a"), broker.open_session(client_id="b")
    first.subscribe("t", "g")
    first.subscribe("t", "h")
    second.subscribe("t", "g")
    assert _members(broker, "t", "g") == 2
    first.close()
    first.close()                                   # idempotent
    assert (_members(broker, "t", "g"), _members(broker, "t", "h")) == (1, 0)
    second.close()
    assert _members(broker, "t", "g") == 0


def test_a_session_without_a_group_joins_nothing(broker):
    broker.create_topic("t")
    session = broker.open_session()
    assert session.subscribe("t", "", 0, "earliest") == 0
    assert broker.list_consumer_groups() == []


def test_an_embedded_client_is_one_session(broker):
    broker.create_topic("t")
    with FlyMQClient(broker=broker) as client:
        client.subscribe("t", "g")
        assert _members(broker, "t", "g") == 1
    assert _members(broker, "t", "g") == 0


def test_sessions_end_with_a_closed_broker(tmp_path):
    broker = Broker(tmp_path)
    session = broker.open_session()
    broker.create_topic("t")
    session.subscribe("t", "g")
    broker.close()
    session.close()                                 # nothing left to leave; no error
    with pytest.raises(BrokerClosedError):
        broker.open_session()


@pytest.mark.parametrize("transport", ["local", "tcp"])
def test_supports_says_the_same_on_both_transports(transport, flymq_broker, request):
    target = {"broker": flymq_broker} if transport == "local" else \
        {"bootstrap_servers": request.getfixturevalue("flymq_server")}
    with FlyMQClient(**target) as client:
        assert {f for f in KNOWN if client.supports(f)} == set(SERVED)
