"""Serializers, the serde registry and topic wildcard matching (no broker needed)."""

from __future__ import annotations

import pytest

from flymq.matcher import is_pattern, match_pattern, resolve
from flymq.serde import (
    AvroSerializer, BytesDeserializer, BytesSerializer, JSONDeserializer, JSONSerializer,
    JsonDeserializer, JsonSerializer, ProtoDeserializer, ProtoSerializer, SerdeRegistry, Serdes,
    StringDeserializer, StringSerializer,
)


@pytest.mark.parametrize("pair, value", [
    (Serdes.string(), "héllo"),
    (Serdes.bytes(), b"\x00\x01"),
    (Serdes.json(), {"a": [1, 2, None]}),
])
def test_round_trips(pair, value):
    serializer, deserializer = pair
    data = serializer.serialize("t", value)
    assert isinstance(data, bytes)
    assert deserializer.deserialize("t", data) == value


def test_string_passes_none_and_stringifies():
    assert StringSerializer().serialize("t", None) is None
    assert StringSerializer().serialize("t", 12) == b"12"
    assert StringDeserializer().deserialize("t", None) is None


def test_bytes_serializer_rejects_other_types():
    with pytest.raises(ValueError):
        BytesSerializer().serialize("t", "text")
    assert BytesDeserializer().deserialize("t", b"x") == b"x"


def test_json_hooks_and_aliases():
    assert JSONSerializer is JsonSerializer and JSONDeserializer is JsonDeserializer
    assert JsonSerializer(encoder=lambda o: sorted(o)).serialize("t", {3, 1}) == b"[1, 3]"
    hook = JsonDeserializer(object_hook=lambda d: tuple(d.items()))
    assert hook.deserialize("t", b'{"a": 1}') == (("a", 1),)


def test_registry_names():
    for name in ("string", "binary", "json", "avro", "protobuf"):
        serializer, deserializer = SerdeRegistry.get(name)
        assert serializer is not None and deserializer is not None
    assert SerdeRegistry.get("nope") == (None, None)


def test_avro_and_proto_need_a_schema_or_function():
    with pytest.raises(ValueError):
        AvroSerializer().serialize("t", {})
    with pytest.raises(ValueError):
        ProtoDeserializer().deserialize("t", b"")
    custom = ProtoSerializer(encoder=lambda topic, data: f"{topic}:{data}".encode())
    assert custom.serialize("t", 1) == b"t:1"


def test_avro_with_schema_needs_fastavro_or_round_trips():
    schema = {"type": "record", "name": "U", "fields": [{"name": "id", "type": "int"}]}
    serializer, deserializer = Serdes.avro(schema)
    try:
        import fastavro  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"flymq\[avro\]"):
            serializer.serialize("t", {"id": 1})
    else:
        assert deserializer.deserialize("t", serializer.serialize("t", {"id": 1})) == {"id": 1}


@pytest.mark.parametrize("pattern, topic, expected", [
    ("sensors/+/temp", "sensors/a/temp", True),
    ("sensors/+/temp", "sensors/a/b/temp", False),
    ("sensors/+/temp", "sensors/temp", False),
    ("logs/#", "logs", True),
    ("logs/#", "logs/a/b", True),
    ("logs/#/ignored", "logs/x", True),
    ("a/b", "a/b", True),
    ("a/b", "a/b/c", False),
    ("#", "anything/at/all", True),
])
def test_match_pattern(pattern, topic, expected):
    assert match_pattern(pattern, topic) is expected


def test_is_pattern_and_resolve():
    assert is_pattern("a/+") and is_pattern("x#") and not is_pattern("a/b")
    existing = ["logs/app", "logs/db", "sensors/a/temp", "other"]
    assert resolve(["logs/#", "other", "logs/app"], existing) == ["logs/app", "logs/db", "other"]
