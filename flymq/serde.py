"""Value serializers and deserializers (§11), and a registry of named pairs for ``set_serde``.

Avro and protobuf support import their libraries only when used, so they stay optional.
"""

from __future__ import annotations

import json
from typing import Any, Callable, ClassVar

__all__ = [
    "Serializer", "Deserializer", "StringSerializer", "StringDeserializer", "BytesSerializer",
    "BytesDeserializer", "JsonSerializer", "JsonDeserializer", "JSONSerializer",
    "JSONDeserializer", "AvroSerializer", "AvroDeserializer", "ProtoSerializer",
    "ProtoDeserializer", "SerdeRegistry", "Serdes", "schema_serdes",
]


def _require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is needed for this serde: pip install 'flymq[{extra}]'"
                          ) from exc


class Serializer:
    """Turns a value into the bytes stored in a record."""

    def serialize(self, topic: str, data: Any) -> bytes:
        raise NotImplementedError


class Deserializer:
    """Turns stored bytes back into a value."""

    def deserialize(self, topic: str, data: bytes) -> Any:
        raise NotImplementedError


class StringSerializer(Serializer):
    def __init__(self, encoding: str = "utf-8"):
        self.encoding = encoding

    def serialize(self, topic: str, data: Any) -> bytes:
        return None if data is None else str(data).encode(self.encoding)


class StringDeserializer(Deserializer):
    def __init__(self, encoding: str = "utf-8"):
        self.encoding = encoding

    def deserialize(self, topic: str, data: bytes) -> Any:
        return None if data is None else bytes(data).decode(self.encoding)


class BytesSerializer(Serializer):
    def serialize(self, topic: str, data: Any) -> bytes:
        if data is None:
            return None
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"BytesSerializer needs bytes, got {type(data).__name__}")
        return bytes(data)


class BytesDeserializer(Deserializer):
    def deserialize(self, topic: str, data: bytes) -> Any:
        return data


class JsonSerializer(Serializer):
    def __init__(self, encoder: Callable[[Any], Any] | None = None):
        self.encoder = encoder

    def serialize(self, topic: str, data: Any) -> bytes:
        return json.dumps(data, default=self.encoder).encode("utf-8")


class JsonDeserializer(Deserializer):
    def __init__(self, object_hook: Callable[[dict], Any] | None = None):
        self.object_hook = object_hook

    def deserialize(self, topic: str, data: bytes) -> Any:
        return None if data is None else json.loads(data, object_hook=self.object_hook)


JSONSerializer = JsonSerializer
JSONDeserializer = JsonDeserializer


class _ParsedAvro:
    """The schema parsed once, on first use (parsing costs more than writing a small datum)."""

    schema: Any
    _parsed: Any = None

    def _fastavro_schema(self) -> tuple[Any, Any]:
        fastavro = _require("fastavro", "avro")
        if self._parsed is None:
            self._parsed = fastavro.parse_schema(self.schema)
        return fastavro, self._parsed


class AvroSerializer(Serializer, _ParsedAvro):
    """Schemaless Avro (fastavro), or a custom ``encoder(topic, data) -> bytes``."""

    def __init__(self, schema: dict | None = None,
                 encoder: Callable[[str, Any], bytes] | None = None):
        self.schema, self.encoder = schema, encoder

    def serialize(self, topic: str, data: Any) -> bytes:
        if self.encoder is not None:
            return self.encoder(topic, data)
        if self.schema is None:
            raise ValueError("AvroSerializer needs a schema or an encoder")
        import io

        fastavro, parsed = self._fastavro_schema()
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, data)
        return out.getvalue()


class AvroDeserializer(Deserializer, _ParsedAvro):
    def __init__(self, schema: dict | None = None,
                 decoder: Callable[[str, bytes], Any] | None = None):
        self.schema, self.decoder = schema, decoder

    def deserialize(self, topic: str, data: bytes) -> Any:
        if self.decoder is not None:
            return self.decoder(topic, data)
        if self.schema is None:
            raise ValueError("AvroDeserializer needs a schema or a decoder")
        import io

        fastavro, parsed = self._fastavro_schema()
        return fastavro.schemaless_reader(io.BytesIO(data), parsed)


class ProtoSerializer(Serializer):
    """A protobuf message class (dicts are parsed into it), or a custom ``encoder``."""

    def __init__(self, msg_class: type | None = None,
                 encoder: Callable[[str, Any], bytes] | None = None):
        self.msg_class, self.encoder = msg_class, encoder

    def serialize(self, topic: str, data: Any) -> bytes:
        if self.encoder is not None:
            return self.encoder(topic, data)
        if self.msg_class is None:
            raise ValueError("ProtoSerializer needs a message class or an encoder")
        if isinstance(data, dict):
            json_format = _require("google.protobuf.json_format", "protobuf")
            data = json_format.ParseDict(data, self.msg_class())
        return data.SerializeToString()


class ProtoDeserializer(Deserializer):
    def __init__(self, msg_class: type | None = None,
                 decoder: Callable[[str, bytes], Any] | None = None):
        self.msg_class, self.decoder = msg_class, decoder

    def deserialize(self, topic: str, data: bytes) -> Any:
        if self.decoder is not None:
            return self.decoder(topic, data)
        if self.msg_class is None:
            raise ValueError("ProtoDeserializer needs a message class or a decoder")
        message = self.msg_class()
        message.ParseFromString(data)
        return message


def schema_serdes(schema_type: str, definition: str) -> tuple[Serializer, Deserializer]:
    """The pair that writes and reads the values of a registered schema (``FlyMQClient.
    set_serde(name, schema=...)``): JSON text for ``json``, Avro binary for ``avro``."""
    if schema_type == "json":
        return Serdes.json()
    if schema_type == "avro":
        return Serdes.avro(json.loads(definition))
    raise ValueError(f"no serde writes {schema_type} schemas; use json or avro")


class SerdeRegistry:
    """Named ``(serializer, deserializer)`` pairs, shared process-wide."""

    _pairs: ClassVar[dict[str, tuple[Serializer | None, Deserializer | None]]] = {}

    @classmethod
    def register(cls, name: str, serializer: Serializer | None,
                 deserializer: Deserializer | None) -> None:
        cls._pairs[name] = (serializer, deserializer)

    @classmethod
    def get(cls, name: str) -> tuple[Serializer | None, Deserializer | None]:
        return cls._pairs.get(name, (None, None))


class Serdes:
    """Factories for matched pairs."""

    @staticmethod
    def string() -> tuple[Serializer, Deserializer]:
        return StringSerializer(), StringDeserializer()

    @staticmethod
    def bytes() -> tuple[Serializer, Deserializer]:
        return BytesSerializer(), BytesDeserializer()

    @staticmethod
    def json(encoder: Callable | None = None,
             object_hook: Callable | None = None) -> tuple[Serializer, Deserializer]:
        return JsonSerializer(encoder), JsonDeserializer(object_hook)

    @staticmethod
    def avro(schema: dict | None = None, encoder: Callable | None = None,
             decoder: Callable | None = None) -> tuple[Serializer, Deserializer]:
        return AvroSerializer(schema, encoder), AvroDeserializer(schema, decoder)

    @staticmethod
    def protobuf(descriptor: type | None = None, encoder: Callable | None = None,
                 decoder: Callable | None = None) -> tuple[Serializer, Deserializer]:
        return ProtoSerializer(descriptor, encoder), ProtoDeserializer(descriptor, decoder)


for _name, _factory in (("string", Serdes.string), ("binary", Serdes.bytes),
                        ("json", Serdes.json), ("avro", Serdes.avro),
                        ("protobuf", Serdes.protobuf)):
    SerdeRegistry.register(_name, *_factory())
del _name, _factory
