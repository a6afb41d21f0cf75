"""Avro subjects (the ``avro`` extra): fastavro parses schemas and checks datums, Apache
avro's schema-resolution checker decides compatibility.

A datum may be sent in Avro's binary encoding (schemaless: the bytes of one datum, nothing
before it) or as JSON: a plain JSON value (unions untagged, as fastavro writes dicts) or
Avro's JSON encoding (unions tagged ``{"string": "x"}``). Binary is tried first and must
consume the whole value.
"""

from __future__ import annotations

import io
import json
from typing import Any, Sequence

from flymq.broker.schemas.json_kind import JSONDecodeError, canonical_json, loads, \
    parse_json_definition
from flymq.broker.schemas.kinds import MAX_ERRORS, CompiledSchema, one_line
from flymq.errors import InvalidSchemaError, UnsupportedOperationError


def _require(module: str) -> Any:
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UnsupportedOperationError(
            f"Avro schemas need the {module.split('.')[0]} package on the broker",
            hint="pip install 'flymq[avro]' where the broker runs.") from None


class AvroSchema:
    """A parsed Avro schema; thread-safe."""

    def __init__(self, definition: bytes):
        self._fastavro = _require("fastavro")
        self._validation = _require("fastavro.validation")
        doc = parse_json_definition(definition, "Avro schema")
        try:
            self._parsed = self._fastavro.parse_schema(doc)
            # the reference parser is the stricter one (fastavro takes a record without fields)
            _require("avro.schema").parse(json.dumps(doc))
        except UnsupportedOperationError:
            raise
        except Exception as exc:  # both raise several unrelated classes for bad schemas
            raise InvalidSchemaError(f"invalid Avro schema: {one_line(exc)}") from None
        self.doc = doc
        self.canonical = canonical_json(doc)

    def _binary_problem(self, value: bytes) -> str | None:
        """None when ``value`` is exactly one binary datum of this schema."""
        stream = io.BytesIO(value)
        try:
            self._fastavro.schemaless_reader(stream, self._parsed, None)
        except Exception as exc:  # truncated, bad varint, bad union index, bad UTF-8...
            return one_line(exc) or type(exc).__name__
        left = len(value) - stream.tell()
        return f"{left} bytes left over after the datum" if left else None

    def errors(self, value: bytes) -> list[str]:
        binary = self._binary_problem(value)
        if binary is None:
            return []
        try:
            datum = loads(value)
        except JSONDecodeError:
            return [f"$: neither a binary Avro datum of this schema ({binary}) nor JSON (avro)"]
        try:
            self._validation.validate(datum, self._parsed, raise_errors=True)
            return []
        except self._validation.ValidationError as exc:
            plain = [f"$: {one_line(e)} (avro)" for e in exc.errors[:MAX_ERRORS]]
        if self._avro_json_ok(value):
            return []
        return plain or ["$: does not match the schema (avro)"]

    def _avro_json_ok(self, value: bytes) -> bool:
        """Whether ``value`` is the datum in Avro's own JSON encoding (tagged unions)."""
        try:
            text = value.decode("utf-8")
            return len(list(self._fastavro.json_reader(io.StringIO(text), self._parsed))) == 1
        except Exception:
            return False

    def valid(self, value: bytes) -> bool:
        return not self.errors(value)

    def all_valid(self, values: Sequence[bytes]) -> bool:
        return not any(map(self.errors, values))

    def reader_problems(self, writer: CompiledSchema) -> list[str]:
        if not isinstance(writer, AvroSchema):
            return ["the writer is not an Avro schema"]
        schema = _require("avro.schema")
        compatibility = _require("avro.compatibility")
        result = compatibility.ReaderWriterCompatibilityChecker().get_compatibility(
            schema.parse(json.dumps(self.doc)), schema.parse(json.dumps(writer.doc)))
        if result.compatibility is compatibility.SchemaCompatibilityType.compatible:
            return []
        return [f"{location or '/'}: {one_line(message)}"
                for message, location in zip(result.messages, result.locations)]
