"""FlyMQClient construction, lifecycle, serde, transactions and later-issue features."""

from __future__ import annotations

import itertools
import threading

import pytest

import flymq
from flymq import (
    ClientConfig, ConnectionClosedError, FlyMQClient, NoAvailableServerError, TLSConfig,
    TransactionError, TransactionNotActiveError, UnsupportedOperationError, connect,
)
from flymq.client.local import LocalTransport
from flymq.client.transport import Transport
from flymq.serde import JsonSerializer
from flymq.testing import redirect


# --- lifecycle (both transports) ------------------------------------------------------------

def test_close_is_idempotent_and_later_calls_fail(client):
    client.close()
    client.close()
    assert client.closed
    with pytest.raises(ConnectionClosedError, match="Client is closed"):
        client.produce("t", b"x")
    with pytest.raises(ConnectionClosedError):
        client.list_topics()


def test_the_surface_of_producers_and_consumers_refuses_a_closed_client(client):
    client.close()
    for call in (lambda: client.partition_count("t"), client.init_producer_id,
                 lambda: client.append_batch("t", [(None, b"a", -1)]),
                 lambda: client.wait_for_records([("t", 0, 0)], 0, threading.Event()),
                 lambda: client.produce_transactional("txn-1", "t", b"a"),
                 lambda: client.commit_transaction("txn-1"),
                 lambda: client.abort_transaction("txn-1")):
        with pytest.raises(ConnectionClosedError, match="Client is closed"):
            call()


def test_context_manager_closes(new_client):
    with new_client() as c:
        c.produce("t", b"x")
    assert c.closed


def test_closing_a_client_leaves_the_broker_running(new_client):
    first = new_client()
    first.produce("t", b"x")
    first.close()
    assert new_client().consume("t", 0).data == b"x"


@pytest.mark.parametrize("call", [
    lambda c: c.cluster_join("peer:1"),
    lambda c: c.cluster_leave(),
])
def test_later_features_raise_unsupported(client, call):
    with pytest.raises(UnsupportedOperationError, match="not supported"):
        call(client)


def test_serde_round_trip_through_broker(client):
    client.set_serde("json")
    meta = client.produce("users", {"id": 1})
    assert client.consume("users", meta).decode() == {"id": 1}
    assert client.consume("users", meta).data == b'{"id": 1}'
    assert client.consume_object("users", meta) == {"id": 1}
    assert client.fetch("users").messages[0].deserialize() == {"id": 1}


def test_set_serde_unknown_name_changes_nothing(client):
    client.set_serde("no-such-serde")
    with pytest.raises(TypeError):
        client.produce("t", {"id": 1})


def test_produce_object_and_consume_object(client):
    client.produce_object("t", [1, 2], serializer=JsonSerializer())
    assert client.consume_object("t", 0) == b"[1, 2]"
    with pytest.raises(ValueError):
        client.produce_object("t", [1, 2])  # BytesSerializer rejects non-bytes


def test_numbered_batches_through_the_public_surface_are_appended_once(client):
    client.create_topic("t", 3)
    assert client.partition_count("t") == 3
    producer_id, epoch = client.init_producer_id()
    records = [(None, b"a", 1), (b"k", b"b", 1)]
    _, placed = client.append_batch("t", records, producer=(producer_id, epoch, 0))
    assert placed == [(1, 0), (1, 1)]
    assert client.append_batch("t", records, producer=(producer_id, epoch, 0))[1] == placed
    assert [m.data for m in client.fetch("t", 1).messages] == [b"a", b"b"]


def test_wait_for_records_ends_on_a_record_past_a_position(client):
    client.produce("t", b"x")
    wake = threading.Event()
    client.wait_for_records([("t", 0, 0)], 30, wake)
    assert wake.is_set()


# --- construction (no broker needed) ------------------------------------------------------

@pytest.fixture
def broker(flymq_broker):
    return flymq_broker


def test_config_bootstrap_servers_used_when_not_passed(broker):
    config = ClientConfig(bootstrap_servers="a:1, b:2 ,")
    with redirect("a:1", broker):
        with FlyMQClient(config=config) as c:
            assert c.config.get_servers() == ["a:1", "b:2"]
            c.produce("t", b"x")
    assert config.bootstrap_servers == "a:1, b:2 ,"  # the caller's config is not mutated


def test_host_and_port_positional(broker):
    with redirect("myhost:9000", broker):
        with FlyMQClient("myhost", 9000) as c:
            assert c.config.get_servers() == ["myhost:9000"]


def test_unknown_keyword_is_type_error(broker):
    with pytest.raises(TypeError):
        FlyMQClient(broker=broker, no_such_option=1)
    # upstream ignores unknown keywords when a config is given
    FlyMQClient(broker=broker, config=ClientConfig(), no_such_option=1).close()


def test_keywords_override_config_and_tls_replaces_fields(broker):
    tls = TLSConfig(enabled=True, ca_file="ca.pem", server_name="x")
    with FlyMQClient(broker=broker, config=ClientConfig(max_retries=1), max_retries=5,
                     tls=tls) as c:
        assert c.config.max_retries == 5
        assert (c.config.tls_enabled, c.config.tls_ca_file, c.config.tls_server_name) == \
            (True, "ca.pem", "x")


def test_config_validation_is_value_error():
    with pytest.raises(ValueError):
        ClientConfig(max_retries=1000)
    with pytest.raises(ValueError):
        ClientConfig(encryption_key="not-hex")


def test_embedded_address(broker, monkeypatch):
    from flymq.broker import Broker

    monkeypatch.setattr(Broker, "lookup", classmethod(lambda cls, name: {"b1": broker}[name]))
    with FlyMQClient("embedded://b1") as c:
        assert isinstance(c._conn, LocalTransport)
    with pytest.raises(NoAvailableServerError):
        FlyMQClient("embedded://missing")


def test_connect_builds_tls_and_accepts_broker(broker):
    with connect(broker=broker, tls_ca_file="ca.pem") as c:
        assert c.config.tls_ca_file == "ca.pem" and not c.config.tls_enabled
    with connect(broker=broker, tls_insecure_skip_verify=True) as c:
        assert not c.config.tls_insecure_skip_verify  # upstream quirk: alone it does nothing


def test_auth_with_auth_disabled_accepts_and_binds_the_name(client, new_client):
    assert not client.is_authenticated and client.username is None
    assert not client.whoami().authenticated
    response = client.authenticate("bob", "pw")
    assert response.success and client.is_authenticated and client.username == "bob"
    assert client.whoami().username == "bob"
    auto = new_client(username="ann", password="x")  # constructor authenticates
    assert auto.username == "ann" and auto.whoami().authenticated


def test_failed_authentication_raises(broker):
    class Refusing(LocalTransport):
        def authenticate(self, username, password):
            return flymq.AuthResponse(False, error="bad password")

    with pytest.raises(flymq.AuthenticationError, match="bad password"):
        FlyMQClient(transport=Refusing(broker), username="bob")


# --- transactions: client-side logic over a transport that has them --------------------------

class TxnTransport(LocalTransport):
    """LocalTransport plus in-memory transactions (until the broker has them)."""

    def __init__(self, broker, fail_begin=False, fail_commit=False):
        super().__init__(broker)
        self.fail_begin, self.fail_commit = fail_begin, fail_commit
        self.ids = itertools.count(1)
        self.pending: dict[str, list] = {}

    def begin_transaction(self):
        if self.fail_begin:
            return ""
        txn_id = f"txn-{next(self.ids)}"
        self.pending[txn_id] = []
        return txn_id

    def produce_transactional(self, txn_id, topic, value):
        self.pending[txn_id].append((topic, value))
        return flymq.RecordMetadata(topic, 0, 0)

    def commit_transaction(self, txn_id):
        if self.fail_commit:
            raise TransactionError("commit failed")
        for topic, value in self.pending.pop(txn_id):
            self.produce(topic, value)

    def abort_transaction(self, txn_id):
        self.pending.pop(txn_id)

    # the handle's batches as the calls above, as a transport without a batch operation
    produce_transactional_batch = Transport.produce_transactional_batch


def _txn_client(broker, **kw):
    return FlyMQClient(transport=TxnTransport(broker, **kw))


def test_transaction_context_commits(broker):
    with _txn_client(broker) as c:
        with c.transaction() as txn:
            txn.produce("a", b"1")
            txn.produce("b", "2")
            assert c.list_topics() == []
        assert not txn.active
        assert c.consume("a", 0).data == b"1" and c.consume("b", 0).data == b"2"


def test_transaction_context_rolls_back_on_error(broker):
    with _txn_client(broker) as c:
        with pytest.raises(RuntimeError):
            with c.transaction() as txn:
                txn.produce("a", b"1")
                raise RuntimeError("boom")
        assert not txn.active and c.list_topics() == []


def test_transaction_body_may_finish_it(broker):
    with _txn_client(broker) as c:
        with c.transaction() as txn:
            txn.produce("a", b"1")
            txn.commit()
        with pytest.raises(TransactionNotActiveError):
            txn.produce("a", b"2")
        with pytest.raises(TransactionNotActiveError):
            txn.rollback()


def test_failed_begin_is_transaction_error(broker):
    with _txn_client(broker, fail_begin=True) as c:
        with pytest.raises(TransactionError):
            c.begin_transaction()


def test_rollback_after_failed_commit(broker):
    with _txn_client(broker, fail_commit=True) as c:
        txn = c.begin_transaction()
        txn.produce("a", b"1")
        with pytest.raises(TransactionError):
            txn.commit()
        assert txn.active
        txn.rollback()
        assert not txn.active


def test_transport_matches_the_parameter(client, endpoint):
    expected = "TcpTransport" if isinstance(endpoint, str) else "LocalTransport"
    assert type(client._conn).__name__ == expected


def test_gzip_compression_type_round_trips(client):
    meta = client.produce("t", b"z" * 1000, compression_type="gzip")
    assert client.consume("t", meta).data == b"z" * 1000



def test_memory_address_starts_a_private_broker_for_the_client():
    with FlyMQClient("memory://") as c:
        broker = c._owned_broker
        c.produce("t", b"hello")
        assert c.consume("t", 0) == b"hello"
        data_dir = broker.data_dir
        assert data_dir.exists()
    assert broker.closed and not data_dir.exists()


def test_memory_address_with_a_name_is_shared_and_closed_by_its_last_client():
    first = FlyMQClient("memory://shared-test")
    second = FlyMQClient("memory://shared-test")
    broker = first._owned_broker
    first.produce("t", b"one")
    assert second.consume("t", 0) == b"one"
    first.close()                                   # the starter leaves first
    assert not broker.closed
    assert second.consume("t", 0) == b"one"
    second.produce("t", b"two")
    second.close()
    assert broker.closed
    with FlyMQClient("memory://shared-test") as third:   # a new, empty broker
        assert third._owned_broker is not broker and third.list_topics() == []


def test_a_memory_client_never_closes_a_broker_the_application_started(tmp_path):
    from flymq.broker import Broker

    with Broker(tmp_path, name="app-broker") as broker:
        with FlyMQClient("memory://app-broker") as c:
            c.produce("t", b"x")
        assert not broker.closed
        assert broker.fetch("t", 0, 0, 10).messages[0].value == b"x"
