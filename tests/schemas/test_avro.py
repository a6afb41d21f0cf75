"""Avro subjects: schemas parsed by fastavro, binary and JSON datums validated, evolution
checked with Avro's schema-resolution rules; on both transports."""

from __future__ import annotations

import io
import json

import pytest

from flymq.errors import InvalidSchemaError, SchemaCompatibilityError, SchemaValidationError

fastavro = pytest.importorskip("fastavro", reason="Avro subjects need the avro extra")
pytest.importorskip("avro", reason="Avro compatibility checks need the avro extra")

USER = {"type": "record", "name": "User", "namespace": "shop", "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "email", "type": ["null", "string"], "default": None},
    {"name": "tier", "type": {"type": "enum", "name": "Tier", "symbols": ["FREE", "PRO"]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
]}
ADA = {"id": 1, "name": "Ada", "email": "ada@example.com", "tier": "PRO", "tags": ["x"]}


def binary(schema: dict, datum: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), datum)
    return out.getvalue()


def test_binary_and_json_datums(client):
    assert client.register_schema("user-avro", "avro", USER) == 1
    valid = [binary(USER, ADA), json.dumps(ADA).encode(),
             json.dumps({**ADA, "email": {"string": "ada@example.com"}}).encode(),  # Avro JSON
             json.dumps({**ADA, "email": None}).encode()]
    for data in valid:
        assert client.validate_schema("user-avro", data), data
        client.produce_with_schema("users", data, "user-avro")
    invalid = [binary(USER, ADA)[:-3],                                  # truncated
               binary(USER, ADA) + b"\x00",                              # trailing bytes
               json.dumps({**ADA, "tier": "GOLD"}).encode(),             # unknown symbol
               json.dumps({**ADA, "id": "one"}).encode(),                # wrong type
               json.dumps({"id": 1}).encode(),                           # missing fields
               b""]
    for data in invalid:
        assert not client.validate_schema("user-avro", data), data
        with pytest.raises(SchemaValidationError) as info:
            client.produce_with_schema("users", data, "user-avro")
        assert info.value.errors and info.value.errors[0].startswith("$")
    assert len(client.fetch("users", 0, 0, 100).messages) == len(valid)


@pytest.mark.parametrize("definition, problem", [
    ('{"type": "record", "name": "X"}', "invalid Avro schema"),          # no fields
    ('{"type": "recordz", "name": "X", "fields": []}', "invalid Avro schema"),
    ('{"type": "record"', "invalid Avro schema"),
])
def test_bad_avro_schemas_are_refused(client, definition, problem):
    with pytest.raises(InvalidSchemaError, match=problem):
        client.register_schema("bad-avro", "avro", definition)
    assert client.list_schemas("bad-avro") == []


def _with_field(extra: dict) -> dict:
    return {**USER, "fields": USER["fields"] + [extra]}


@pytest.mark.parametrize("mode, evolved, ok", [
    ("backward", _with_field({"name": "age", "type": "int", "default": 0}), True),
    ("backward", _with_field({"name": "age", "type": "int"}), False),      # no default
    ("forward", _with_field({"name": "age", "type": "int"}), True),
    ("forward", {**USER, "fields": USER["fields"][:1] + USER["fields"][2:]}, False),  # drop name
    ("full", _with_field({"name": "age", "type": "int", "default": 0}), True),
    ("full", _with_field({"name": "age", "type": "int"}), False),
    ("backward", {**USER, "fields": [{"name": "id", "type": "int"}] + USER["fields"][1:]},
     False),                                                              # long -> int
    ("none", {"type": "record", "name": "Other", "fields": []}, True),
])
def test_avro_evolution_follows_schema_resolution(client, mode, evolved, ok):
    client.set_schema_compatibility(mode, "user-avro")
    client.register_schema("user-avro", "avro", USER)
    if ok:
        assert client.register_schema("user-avro", "avro", evolved) == 2
    else:
        with pytest.raises(SchemaCompatibilityError) as info:
            client.register_schema("user-avro", "avro", evolved)
        assert info.value.problems and mode.upper() in info.value.problems[0]
        assert [s["version"] for s in client.list_schemas("user-avro")] == [1]


def test_avro_serde_sends_objects(new_client):
    client = new_client()
    client.register_schema("user-avro", "avro", USER)
    client.set_serde("avro", schema="user-avro")
    meta = client.produce_object("users", ADA)
    assert client.consume_object("users", meta) == ADA
    assert client.consume("users", meta).data == binary(USER, ADA)
    with pytest.raises((SchemaValidationError, ValueError, TypeError)):
        client.produce_object("users", {"id": 2})
    assert len(client.fetch("users", 0, 0, 10).messages) == 1
