"""JSON Schema validation in the spirit of the JSON Schema test suite: each case is a schema,
instances it accepts and instances it refuses with the failing path and rule, checked through
``validate_schema`` and ``produce_with_schema`` on both transports."""

from __future__ import annotations

import json

import pytest

from flymq.errors import SchemaValidationError

from .conftest import dumps

ADDRESS = {"type": "object", "properties": {"street": {"type": "string"},
                                            "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
           "required": ["street", "zip"]}

# (id, schema, valid instances, [(invalid instance, expected "path: ... (rule)" fragments)])
CASES = [
    ("nested-objects", {"type": "object", "properties": {"user": {
        "type": "object", "properties": {"address": ADDRESS}, "required": ["address"]}}},
     [{"user": {"address": {"street": "Main", "zip": "12345"}}}, {}],
     [({"user": {"address": {"street": "Main", "zip": "12"}}}, ["$.user.address.zip", "(pattern)"]),
      ({"user": {}}, ["$.user", "(required)"])]),
    ("arrays", {"type": "array", "items": {"type": "integer", "minimum": 0}, "maxItems": 3},
     [[], [0, 1, 2]],
     [([1, -1], ["$[1]", "(minimum)"]), ([1, 2, 3, 4], ["$:", "(maxItems)"]),
      ([1, "x"], ["$[1]", "(type)"])]),
    ("ref-defs-2020-12", {"$defs": {"address": ADDRESS}, "type": "object",
                          "properties": {"home": {"$ref": "#/$defs/address"},
                                         "work": {"$ref": "#/$defs/address"}}},
     [{"home": {"street": "a", "zip": "00000"}}],
     [({"work": {"street": "a"}}, ["$.work", "(required)"])]),
    ("ref-definitions-draft-07", {"$schema": "http://json-schema.org/draft-07/schema#",
                                  "definitions": {"id": {"type": "integer"}},
                                  "properties": {"id": {"$ref": "#/definitions/id"}}},
     [{"id": 3}], [({"id": "3"}, ["$.id", "(type)"])]),
    ("recursive-ref", {"$defs": {"node": {"type": "object", "properties": {
        "value": {"type": "integer"}, "children": {"type": "array",
                                                   "items": {"$ref": "#/$defs/node"}}}}},
        "$ref": "#/$defs/node"},
     [{"value": 1, "children": [{"value": 2, "children": []}]}],
     [({"value": 1, "children": [{"value": "two"}]}, ["$.children[0].value", "(type)"])]),
    ("oneOf", {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 10}]},
     [1, 10.5], [(20, ["$:", "(oneOf)"]), ("x", ["(oneOf)"])]),
    ("anyOf", {"anyOf": [{"type": "string"}, {"type": "null"}]},
     ["x", None], [(1, ["$:", "(anyOf)"])]),
    ("allOf", {"allOf": [{"type": "object", "required": ["a"]},
                         {"properties": {"a": {"enum": ["x", "y"]}}}]},
     [{"a": "x"}], [({"a": "z"}, ["$.a", "(enum)"]), ({}, ["(required)"])]),
    ("not-and-const", {"properties": {"kind": {"const": "order"},
                                      "id": {"not": {"type": "null"}}}},
     [{"kind": "order", "id": 1}], [({"kind": "refund"}, ["$.kind", "(const)"]),
                                    ({"id": None}, ["$.id", "(not)"])]),
    ("formats", {"type": "object", "properties": {
        "email": {"format": "email"}, "at": {"format": "date-time"},
        "ip": {"format": "ipv4"}, "id": {"format": "uuid"}, "day": {"format": "date"}}},
     [{"email": "ada@example.com", "at": "2026-12-07T06:00:00Z", "ip": "10.0.0.1",
       "id": "2f1d3c1e-9a7b-4c3d-8e2f-1a2b3c4d5e6f", "day": "2026-12-07"}],
     [({"email": "nope"}, ["$.email", "(format)"]), ({"at": "yesterday"}, ["$.at", "(format)"]),
      ({"ip": "300.1.1.1"}, ["$.ip", "(format)"]), ({"id": "x"}, ["$.id", "(format)"]),
      ({"day": "2026-13-40"}, ["$.day", "(format)"])]),
    ("additional-properties", {"type": "object", "properties": {"a": {"type": "integer"}},
                               "additionalProperties": False},
     [{"a": 1}, {}], [({"a": 1, "b": 2}, ["$:", "(additionalProperties)"])]),
    ("integer-vs-number", {"properties": {"n": {"type": "integer"}, "x": {"type": "number"}}},
     [{"n": 1, "x": 1}, {"n": 2.0, "x": 0.5}], [({"n": 1.5}, ["$.n", "(type)"])]),
    ("boolean-schema", True, [1, "x", None, {}], []),
]


@pytest.mark.parametrize("case_id, schema, valid, invalid", CASES, ids=[c[0] for c in CASES])
def test_json_schema_cases(client, case_id, schema, valid, invalid):
    client.register_schema(case_id, "json", json.dumps(schema))
    for instance in valid:
        assert client.validate_schema(case_id, dumps(instance)), instance
    for instance, fragments in invalid:
        assert not client.validate_schema(case_id, dumps(instance)), instance
        with pytest.raises(SchemaValidationError) as info:
            client.produce_with_schema(case_id, dumps(instance), case_id)
        text = " ".join(info.value.errors)
        assert all(f in text for f in fragments), (instance, info.value.errors)
        assert all(e.startswith("$") for e in info.value.errors), info.value.errors
    for instance in valid:
        client.produce_with_schema(case_id, dumps(instance), case_id)
    got = client.fetch(case_id, 0, 0, 100).messages
    assert [json.loads(m.data) for m in got] == valid  # nothing invalid was written


def test_every_error_is_reported_with_its_path_and_rule(client):
    client.register_schema("person", "json", {
        "type": "object", "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}, "age": {"type": "integer", "minimum": 0}}})
    with pytest.raises(SchemaValidationError) as info:
        client.produce_with_schema("people", b'{"id": "x", "age": -1}', "person")
    assert info.value.schema_name == "person"
    assert sorted(info.value.errors) == sorted([
        '$: "name" is a required property (required)',
        '$.id: "x" is not of type "integer" (type)',
        "$.age: -1 is less than the minimum of 0 (minimum)"])
    assert "people" not in client.list_topics()


@pytest.mark.parametrize("data, problem", [
    (b"\xff\xfe{}", "not UTF-8 JSON"), (b"{", "not UTF-8 JSON"), (b"", "not UTF-8 JSON"),
    (b'{"id": NaN}', "not UTF-8 JSON"), ('{"id": "\u00e9"}'.encode("utf-16"), "not UTF-8 JSON"),
])
def test_data_that_is_not_utf8_json_is_refused(client, data, problem):
    client.register_schema("any-object", "json", {"type": "object"})
    with pytest.raises(SchemaValidationError) as info:
        client.produce_with_schema("t", data, "any-object")
    assert problem in info.value.errors[0] and info.value.errors[0].endswith("(json)")
    assert not client.validate_schema("any-object", data)


def test_an_explicit_version_is_validated_against(client):
    client.register_schema("evolving", "json", {"properties": {"a": {"type": "integer"}}})
    client.register_schema("evolving", "json", {"properties": {"a": {"type": "number"}}})
    client.produce_with_schema("t", b'{"a": 1.5}', "evolving")
    with pytest.raises(SchemaValidationError):
        client.produce_with_schema("t", b'{"a": 1.5}', "evolving", version=1)
    meta = client.produce_with_schema("t", b'{"a": 2}', "evolving", version=1)
    assert meta.offset == 1


def test_patterns_cannot_backtrack_for_ever(client):
    client.register_schema("re", "json", {"properties": {"s": {"pattern": "^(a+)+$"}}})
    data = json.dumps({"s": "a" * 100_000 + "!"}).encode()
    with pytest.raises(SchemaValidationError, match=r"\$.s: .* \(pattern\)"):
        client.produce_with_schema("t", data, "re")   # linear time: the test's timeout holds


def test_lookaround_patterns_are_refused_at_registration(client):
    from flymq.errors import InvalidSchemaError
    with pytest.raises(InvalidSchemaError, match="regex"):
        client.register_schema("re", "json", {"pattern": "(?=a)b"})
