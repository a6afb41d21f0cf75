"""Compatibility modes on JSON Schema subjects: each mode with an evolution it accepts and one
it refuses, the transitive forms against older versions, and the refusal naming what breaks
and where (docs/schemas.md, "JSON Schema rules"); on both transports."""

from __future__ import annotations

import pytest

from flymq.errors import InvalidRequestError, SchemaCompatibilityError


def obj(required: list[str] = (), additional: object = None, **props: dict) -> dict:
    schema = {"type": "object", "properties": props, "required": list(required)}
    if additional is not None:
        schema["additionalProperties"] = additional
    return schema


INT, STR, NUM = {"type": "integer"}, {"type": "string"}, {"type": "number"}
BASE = obj(["id"], id=INT, name=STR)

# (mode, next version, accepted, fragment of the problem when refused)
EVOLUTIONS = [
    ("backward", obj(["id"], id=INT, name=STR, email=STR), True, None),        # optional added
    ("backward", obj(["id", "email"], id=INT, name=STR, email=STR), False,
     "$.email: required by the reader"),                                      # required added
    ("backward", obj(["id"], id=NUM, name=STR), True, None),                  # type widened
    ("backward", obj(["id"], id=STR, name=STR), False, "$.id: type narrowed"),
    ("backward", obj(["id"], False, id=INT), False, "$.name: property removed"),
    ("backward", obj(["id"], False, id=INT, name=STR), False, "additionalProperties"),
    ("backward", obj(["id"], id=INT, name={"type": "string", "maxLength": 5}), False,
     "$.name: maxLength lowered to 5"),
    ("forward", obj(["id", "email"], id=INT, name=STR, email=STR), True, None),
    ("forward", obj([], id=INT, name=STR), False, "$.id: required by the reader"),
    ("forward", obj(["id"], id=NUM, name=STR), False, "$.id: type narrowed"),
    ("full", obj(["id"], id=INT, name=STR, email=STR), True, None),
    ("full", obj(["id"], id=NUM, name=STR), False, "FULL: v1 reading new-schema data"),
    ("none", obj(["x"], x={"type": "boolean"}), True, None),
]


@pytest.mark.parametrize("mode, evolved, ok, problem", EVOLUTIONS)
def test_each_mode_accepts_and_refuses(client, mode, evolved, ok, problem):
    client.set_schema_compatibility(mode, "users")
    assert client.register_schema("users", "json", BASE) == 1
    if ok:
        assert client.register_schema("users", "json", evolved) == 2
        return
    with pytest.raises(SchemaCompatibilityError) as info:
        client.register_schema("users", "json", evolved)
    assert any(problem in p for p in info.value.problems), info.value.problems
    assert [s["version"] for s in client.list_schemas("users")] == [1]


ENUM_V1 = {"properties": {"status": {"enum": ["new", "paid", "shipped"]}}}


def test_enum_changes(client):
    client.register_schema("orders", "json", ENUM_V1)
    wider = {"properties": {"status": {"enum": ["new", "paid", "shipped", "returned"]}}}
    assert client.register_schema("orders", "json", wider) == 2
    with pytest.raises(SchemaCompatibilityError, match=r"\$.status: enum values removed"):
        client.register_schema("orders", "json", ENUM_V1 | {"properties": {
            "status": {"enum": ["new", "paid", "returned"]}}})


def test_nested_and_referenced_changes_are_found_where_they_are(client):
    v1 = {"$defs": {"line": obj(["sku"], sku=STR, qty=INT)},
          "type": "object", "properties": {"lines": {"type": "array",
                                                     "items": {"$ref": "#/$defs/line"}}}}
    client.register_schema("cart", "json", v1)
    v2 = {**v1, "$defs": {"line": obj(["sku"], sku=STR, qty=STR)}}
    with pytest.raises(SchemaCompatibilityError) as info:
        client.register_schema("cart", "json", v2)
    assert any("$.lines[*].qty: type narrowed" in p for p in info.value.problems)


TRANSITIVE = [obj([], x=STR), obj([]), obj([], x=INT)]  # v3 breaks v1 only


@pytest.mark.parametrize("mode, ok", [("backward", True), ("backward_transitive", False),
                                      ("full_transitive", False)])
def test_transitive_modes_check_every_version(client, mode, ok):
    client.set_schema_compatibility(mode, "t")
    client.register_schema("t", "json", TRANSITIVE[0])
    client.register_schema("t", "json", TRANSITIVE[1])
    if ok:
        assert client.register_schema("t", "json", TRANSITIVE[2]) == 3
    else:
        with pytest.raises(SchemaCompatibilityError, match="v1"):
            client.register_schema("t", "json", TRANSITIVE[2])


def test_forward_transitive(client):
    client.set_schema_compatibility("FORWARD_TRANSITIVE", "f")
    client.register_schema("f", "json", obj(["a", "b"], a=INT, b=INT))
    client.register_schema("f", "json", obj(["a", "b"], a=INT, b=INT, c=INT))
    with pytest.raises(SchemaCompatibilityError, match=r"v1 reading new-schema data: \$.b"):
        client.register_schema("f", "json", obj(["a"], a=INT, c=INT))


def test_modes_are_per_subject_with_a_global_default(client):
    assert client.get_schema_compatibility() == "backward"
    assert client.get_schema_compatibility("anything") == "backward"
    assert client.set_schema_compatibility("full") == "full"
    assert client.get_schema_compatibility("anything") == "full"
    client.set_schema_compatibility("none", "loose")
    assert client.get_schema_compatibility("loose") == "none"
    client.register_schema("loose", "json", obj(["a"], a=INT))
    assert client.register_schema("loose", "json", obj(["b"], b=STR)) == 2
    with pytest.raises(InvalidRequestError, match="invalid compatibility mode"):
        client.set_schema_compatibility("sideways", "loose")
    assert client.describe_schema("loose").compatibility.value == "none"


def test_references_it_cannot_follow_are_reported_not_assumed_safe(client):
    v1 = {"$defs": {"id": {"$id": "urn:ids", "type": "integer"}},
          "properties": {"id": {"$ref": "urn:ids"}}}
    client.register_schema("refs", "json", v1)
    v2 = {"$defs": {"id": {"$id": "urn:ids", "type": "string"}},
          "properties": {"id": {"$ref": "urn:ids"}}}
    with pytest.raises(SchemaCompatibilityError, match=r"\$.id: \$ref 'urn:ids' is not followed"):
        client.register_schema("refs", "json", v2)
    assert client.register_schema("refs", "json", v1) == 1   # unchanged: nothing to compare


def test_an_exploding_comparison_is_cut_short(client):
    def chain(leaf: dict, depth: int = 12) -> dict:
        defs = {"d0": leaf} | {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i - 1}"}] * 4}
                                for i in range(1, depth + 1)}
        return {"$defs": defs, "$ref": f"#/$defs/d{depth}"}
    client.register_schema("deep", "json", chain(INT))
    with pytest.raises(SchemaCompatibilityError, match="too complex to compare"):
        client.register_schema("deep", "json", chain(NUM))


@pytest.mark.parametrize("mode", ["backward_transitive", "forward_transitive",
                                  "full_transitive"])
def test_transitive_modes_accept_compatible_histories(client, mode):
    client.set_schema_compatibility(mode, "h")
    for n, extra in enumerate(({}, {"a": STR}, {"a": STR, "b": INT}), start=1):
        assert client.register_schema("h", "json", obj(["id"], id=INT, **extra)) == n
