"""Each TCP connection is one broker session: opened on accept, closed when the connection
is lost, and every request goes through it."""

from __future__ import annotations

import threading

from flymq import protocol as p
from flymq.protocol import Op
from srvutil import RawClient, in_server_loop, only_connection, wait_until


def _members(broker, topic: str, group: str) -> int:
    return broker.describe_consumer_group(topic, group)["members"]


def test_a_connection_has_one_session_named_by_its_peer(server):
    with RawClient(server.address) as c:
        c.call(Op.LIST_TOPICS)
        session = only_connection(server).session
        host, port = c.sock.getsockname()[:2]
        assert session.client_id == f"{host}:{port}" and not session.closed
    wait_until(lambda: session.closed, what="the session to close")


def test_auth_and_whoami_use_the_sessions_principal(server):
    with RawClient(server.address) as c:
        c.call(Op.AUTH, p.AuthRequest("alice", "pw"))
        assert only_connection(server).session.principal == "alice"
        assert c.call(Op.WHOAMI).username == "alice"
    with RawClient(server.address) as other:       # a new connection, a new session
        assert other.call(Op.WHOAMI) == p.WhoAmIResponse(False, "", [], [])


def test_a_disconnect_leaves_every_group_its_session_joined_and_no_other(server, broker):
    broker.create_topic("a")
    broker.create_topic("b")
    with RawClient(server.address) as stays:
        stays.call(Op.SUBSCRIBE, p.SubscribeRequest("a", "g1", 0, "latest"))
        with RawClient(server.address) as leaves:
            for topic, group in (("a", "g1"), ("a", "g2"), ("b", "g1")):
                leaves.call(Op.SUBSCRIBE, p.SubscribeRequest(topic, group, 0, "latest"))
            assert (_members(broker, "a", "g1"), _members(broker, "a", "g2"),
                    _members(broker, "b", "g1")) == (2, 1, 1)
        wait_until(lambda: len(server.connections) == 1, what="the disconnect")
        assert (_members(broker, "a", "g1"), _members(broker, "a", "g2"),
                _members(broker, "b", "g1")) == (1, 0, 0)


def test_stopping_the_server_closes_every_session(make_server):
    server = make_server()
    with RawClient(server.address) as c:
        c.call(Op.LIST_TOPICS)
        session = in_server_loop(server, lambda: next(iter(server.connections)).session)
        stopper = threading.Thread(target=server.stop_in_thread)
        stopper.start()
        assert c.read_until_closed() == b""
        stopper.join(5)
    assert session.closed
