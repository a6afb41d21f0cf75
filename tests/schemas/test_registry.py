"""Subjects and versions on both transports: registration, idempotent re-registration,
listing, deletion, bad input, and the seed's flow."""

from __future__ import annotations

import json

import pytest

from flymq.errors import (InvalidRequestError, InvalidSchemaError, SchemaNotFoundError,
                          SchemaValidationError)

from .conftest import MAX_SCHEMA_BYTES

V1 = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
V2 = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
      "required": ["id"]}


def test_versions_and_normalised_re_registration(client):
    assert client.register_schema("user", "json", json.dumps(V1)) == 1
    # the same schema with other spacing and key order is the same version
    assert client.register_schema("user", "json", json.dumps(V1, indent=4,
                                                              sort_keys=True)) == 1
    assert client.register_schema("user", "json", V2) == 2
    assert client.register_schema("user", "json", V1) == 1      # any live version matches
    assert client.list_schemas() == [{"name": "user", "type": "json", "version": 1},
                                     {"name": "user", "type": "json", "version": 2}]
    assert client.get_schema("user") == {"name": "user", "type": "json", "version": 2}
    assert client.get_schema("user", 1)["version"] == 1
    info = client.describe_schema("user", 1)
    assert (info.id, info.name, info.version) == ("user-v1", "user", 1)
    assert json.loads(info.definition) == V1 and info.created_at is not None


def test_listing_is_sorted_and_filtered(client):
    for name in ("b", "a", "c/d"):
        client.register_schema(name, "json", V1)
    assert [s["name"] for s in client.list_schemas()] == ["a", "b", "c/d"]
    assert client.list_schemas("b") == [{"name": "b", "type": "json", "version": 1}]
    assert client.list_schemas("missing") == []


def test_delete_one_version_or_all_and_numbers_are_never_reused(client):
    client.register_schema("s", "json", V1)
    client.register_schema("s", "json", V2)
    client.delete_schema("s", 2)                       # the latest: v1 is latest again
    assert client.get_schema("s")["version"] == 1
    client.produce_with_schema("t", b'{"id": 1}', "s")
    assert client.register_schema("s", "json", V2) == 3
    with pytest.raises(SchemaNotFoundError, match="s v2"):
        client.get_schema("s", 2)
    with pytest.raises(SchemaNotFoundError, match="s v2"):
        client.delete_schema("s", 2)
    client.delete_schema("s", 0)                       # 0 = every version
    assert client.list_schemas("s") == []
    with pytest.raises(SchemaNotFoundError):
        client.get_schema("s")
    with pytest.raises(SchemaNotFoundError):
        client.produce_with_schema("t", b'{"id": 1}', "s")
    assert client.register_schema("s", "json", V1) == 4


def test_unknown_schema_is_an_error_not_a_pass(client):
    with pytest.raises(SchemaNotFoundError) as info:
        client.produce_with_schema("t", b"{}", "nope")
    assert info.value.schema_name == "nope"
    with pytest.raises(SchemaNotFoundError):
        client.validate_schema("nope", b"{}")
    with pytest.raises(SchemaNotFoundError):
        client.delete_schema("nope", 0)
    assert "t" not in client.list_topics()


@pytest.mark.parametrize("schema_type, definition, fragment", [
    ("json", "{not json", "invalid JSON schema"),
    ("json", '"a string"', "a schema is a JSON object or a boolean"),
    ("json", '{"type": "objekt"}', "invalid JSON schema"),
    ("json", '{"minimum": "zero"}', "invalid JSON schema"),
    ("json", '{"$ref": "https://example.com/remote.json"}', "invalid JSON schema"),
    ("json", "", "schema definition cannot be empty"),
    ("json", "   ", "schema definition cannot be empty"),
    ("xml", "<a/>", "unsupported schema type: xml"),
    ("json", json.dumps({"description": "x" * MAX_SCHEMA_BYTES}), "larger than the limit"),
])
def test_bad_schemas_are_refused_and_nothing_is_stored(client, schema_type, definition, fragment):
    with pytest.raises(InvalidSchemaError, match=fragment):
        client.register_schema("bad", schema_type, definition)
    assert client.list_schemas() == []


@pytest.mark.parametrize("name", ["", "a\x00b", "has+plus", "/lead", "x" * 250])
def test_schema_names_follow_the_topic_name_rules(client, name):
    with pytest.raises(InvalidRequestError, match="invalid schema name"):
        client.register_schema(name, "json", V1)


def test_protobuf_is_accepted_as_proto_and_checks_the_wire_format(client):
    pytest.importorskip("google.protobuf", reason="Protobuf subjects need the protobuf extra")
    proto = "syntax = \"proto3\";\nmessage User {\n  int64 id = 1;\n}\n"
    assert client.register_schema("pb", "proto", proto) == 1
    assert client.get_schema("pb")["type"] == "protobuf"
    assert client.validate_schema("pb", b"\x08\x96\x01")            # field 1 = 150
    assert not client.validate_schema("pb", b"\x08")                # truncated varint
    with pytest.raises(SchemaValidationError, match="Protobuf"):
        client.produce_with_schema("t", b"\x0a\x05ab", "pb")       # length past the end


def test_the_seed_snippet_flow(client):
    user_schema = json.dumps({"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}}, "required": ["id", "name"]})
    client.register_schema("user-schema", "json", user_schema)
    meta = client.produce_with_schema("users", b'{"id": 1, "name": "Ada"}',
                                      schema_name="user-schema")
    assert (meta.topic, meta.offset, meta.key_size) == ("users", 0, -1)
    with pytest.raises(SchemaValidationError):
        client.produce_with_schema("users", b'{"id": 2}', schema_name="user-schema")
    assert [m.data for m in client.fetch("users", 0, 0, 10).messages] == [
        b'{"id": 1, "name": "Ada"}']


def test_json_serde_sends_objects_validated_by_the_broker(new_client):
    client = new_client()
    client.register_schema("user", "json", V2)
    with pytest.raises(ValueError, match="json schema, not avro"):
        client.set_serde("avro", schema="user")
    client.set_serde("json", schema="user")
    meta = client.produce_object("users", {"id": 7, "name": "Grace"})
    assert client.consume_object("users", meta) == {"id": 7, "name": "Grace"}
    with pytest.raises(SchemaValidationError, match=r"\$.id"):
        client.produce_object("users", {"id": "seven"})
    client.set_serde("json")                             # back to plain JSON: no validation
    client.produce_object("users", {"id": "seven"})
    assert len(client.fetch("users", 0, 0, 10).messages) == 2


def test_upstream_example_07_flow_runs_twice(new_client):
    """Example 07 registers its schemas on every run and reads list entries and dicts."""
    user = {"type": "object", "required": ["user_id", "name", "email"], "properties": {
        "user_id": {"type": "integer"}, "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150}}}
    for run in range(2):
        client = new_client()
        assert client.register_schema("user-schema", "json", json.dumps(user)) == 1
        client.create_topic("users", partitions=1)
        good = json.dumps({"user_id": 1, "name": "Alice", "email": "alice@example.com",
                           "age": 30}).encode()
        assert client.produce_with_schema("users", good, "user-schema").offset == run
        with pytest.raises(SchemaValidationError, match="email"):
            client.produce_with_schema("users", b'{"user_id": 2, "name": "Bob"}',
                                       "user-schema")
        assert client.get_schema("user-schema").get("type") == "json"
        assert [s["name"] for s in client.list_schemas()] == ["user-schema"]
