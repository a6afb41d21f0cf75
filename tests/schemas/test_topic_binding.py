"""A topic bound to a subject (topic config ``schema``): every produce path validates, on
both transports, and a refused request writes nothing."""

from __future__ import annotations

import json

import pytest

from flymq.broker import TopicConfig
from flymq.errors import InvalidRequestError, SchemaNotFoundError, SchemaValidationError

ORDER = {"type": "object", "properties": {"id": {"type": "integer"},
                                          "qty": {"type": "integer", "minimum": 1}},
         "required": ["id", "qty"], "additionalProperties": False}
GOOD, BAD = b'{"id": 1, "qty": 2}', b'{"id": 1, "qty": 0}'


@pytest.fixture
def bound(client):
    client.register_schema("order", "json", ORDER)
    client.create_topic("orders", 2, config={"schema": "order"})
    return client


def _count(client) -> int:
    return sum(len(client.fetch("orders", p, 0, 1000).messages) for p in range(2))


def test_binding_is_part_of_the_topic_config(bound, flymq_broker):
    assert flymq_broker.topic_metadata("orders").config == {"schema": "order"}


def test_single_produce_paths(bound):
    bound.produce("orders", GOOD)
    bound.produce("orders", GOOD, key=b"k")
    bound.produce("orders", GOOD, partition=1)
    for call in (lambda: bound.produce("orders", BAD),
                 lambda: bound.produce("orders", BAD, key=b"k"),
                 lambda: bound.produce_to_partition("orders", 1, BAD),
                 lambda: bound.produce("orders", b"not json")):
        with pytest.raises(SchemaValidationError) as info:
            call()
        assert info.value.errors[0].startswith("$")
    assert _count(bound) == 3


def test_batches_are_all_or_nothing_and_name_the_failing_record(bound):
    bound.append_batch("orders", [(None, GOOD, -1)] * 5)
    with pytest.raises(SchemaValidationError) as info:
        bound.append_batch("orders", [(None, GOOD, -1), (b"k", GOOD, 0), (None, BAD, 1)])
    assert info.value.errors == ["#2 $.qty: 0 is less than the minimum of 1 (minimum)"]
    assert _count(bound) == 5


def test_producers_validate_too(bound):
    producer = bound.producer(max_batch_messages=10, linger_ms=1)
    try:
        good = [producer.send("orders", GOOD) for _ in range(20)]
        producer.flush()
        assert all(f.succeeded() for f in good)
        bad = producer.send("orders", BAD)
        producer.flush()
        with pytest.raises(SchemaValidationError):
            bad.get(10_000)
    finally:
        producer.close()
    assert _count(bound) == 20


def test_transactions_validate_too(bound):
    if not bound.supports("transactions"):
        pytest.skip("the broker serves no transactions")
    with pytest.raises(SchemaValidationError):
        with bound.transaction() as txn:
            txn.produce("orders", GOOD)
            txn.produce("orders", BAD)
    assert _count(bound) == 0
    with bound.transaction() as txn:
        txn.produce("orders", GOOD)
    assert _count(bound) == 1


def test_produce_with_schema_to_a_bound_topic(bound):
    bound.register_schema("loose", "json", {"type": "object"})
    with pytest.raises(SchemaValidationError):   # the explicit schema passes, the binding not
        bound.produce_with_schema("orders", b'{"other": 1}', "loose")
    bound.produce_with_schema("orders", GOOD, "loose")
    assert _count(bound) == 1


def test_the_latest_version_applies(bound):
    widened = {**ORDER, "properties": {**ORDER["properties"], "note": {"type": "string"}}}
    with pytest.raises(SchemaValidationError):
        bound.produce("orders", b'{"id": 1, "qty": 1, "note": "x"}')
    bound.register_schema("order", "json", widened)
    bound.produce("orders", b'{"id": 1, "qty": 1, "note": "x"}')


def test_binding_needs_the_schema_and_a_deleted_one_refuses_writes(client):
    with pytest.raises(SchemaNotFoundError):
        client.create_topic("orders", config={"schema": "missing"})
    assert "orders" not in client.list_topics()
    with pytest.raises((ValueError, InvalidRequestError)):
        client.create_topic("orders", config={"schema": ""})
    client.register_schema("order", "json", ORDER)
    client.create_topic("orders", config={"schema": "order"})
    client.delete_schema("order", 0)
    with pytest.raises(SchemaNotFoundError):
        client.produce("orders", GOOD)
    assert len(client.fetch("orders", 0, 0, 10).messages) == 0


def test_unbound_topics_are_untouched(client):
    client.register_schema("order", "json", ORDER)
    client.produce("free", b"anything")
    client.append_batch("free", [(None, b"\xff", -1)])
    assert len(client.fetch("free", 0, 0, 10).messages) == 2


def test_check_topic_schema_for_deferred_paths(flymq_broker):
    flymq_broker.register_schema("order", "json", b'{"required": ["id"]}')
    flymq_broker.create_topic("orders", config=TopicConfig(schema="order"))
    flymq_broker.check_topic_schema("orders", [b'{"id": 1}'])
    flymq_broker.check_topic_schema("unbound-or-missing", [b"anything"])
    with pytest.raises(SchemaValidationError, match="#1"):
        flymq_broker.check_topic_schema("orders", [b'{"id": 1}', b"{}"])


def test_registering_while_producing_to_a_bound_topic(flymq_broker):
    """The append path reads the latest validator without the registry's lock."""
    import threading

    flymq_broker.register_schema("order", "json", b'{"required": ["id"]}')
    flymq_broker.create_topic("orders", config=TopicConfig(schema="order"))
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for _ in range(300):
                flymq_broker.produce("orders", b'{"id": 1}')
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=produce) for _ in range(3)]
    for t in threads:
        t.start()
    for n in range(20):
        flymq_broker.register_schema("order", "json", json.dumps(
            {"required": ["id"], "properties": {f"p{i}": {} for i in range(n)}}).encode())
    for t in threads:
        t.join()
    assert errors == [] and flymq_broker.offsets("orders", 0)[1] == 900


def test_delayed_and_ttl_produces_validate_too(bound, flymq_clock):
    for feature, call in (("delayed", lambda v: bound.produce_delayed("orders", v, 10)),
                          ("ttl", lambda v: bound.produce_with_ttl("orders", v, 60_000))):
        if not bound.supports(feature):
            continue
        with pytest.raises(SchemaValidationError):   # refused when sent, not at delivery
            call(BAD)
        call(GOOD)
    flymq_clock.advance(1_000)
    assert _count(bound) == sum(bound.supports(f) for f in ("delayed", "ttl"))
