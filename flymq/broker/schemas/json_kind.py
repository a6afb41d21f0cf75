"""JSON Schema subjects: drafts 4, 6, 7, 2019-09 and 2020-12 (chosen by ``$schema``, 2020-12
when absent), validated by jsonschema-rs with ``format`` checks on.

``pattern`` and ``patternProperties`` run on a linear-time regex engine (no lookaround or
backreferences), so no schema can make validation backtrack for ever. Remote ``$ref`` targets
are never fetched (a broker must not reach out to the network because
a client registered a schema): a schema must be self-contained (local ``#/...`` and ``$defs``
references, anchors, embedded ``$id`` resources).
"""

from __future__ import annotations

import json
from itertools import islice
from typing import Any, Sequence

import jsonschema_rs
import orjson

from flymq.broker.schemas.json_compat import reader_problems
from flymq.broker.schemas.kinds import MAX_ERRORS, CompiledSchema, one_line, path_text
from flymq.errors import InvalidSchemaError

loads = orjson.loads  # strict UTF-8 JSON, about 3x json.loads on a small object
JSONDecodeError = orjson.JSONDecodeError


def _no_remote(uri: str) -> Any:
    raise ValueError(f"remote reference {uri} is not fetched; put the referenced schema in "
                     "$defs of this one")


def canonical_json(doc: Any) -> str:
    """The normal form two equal definitions share: sorted keys, no insignificant space."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_json_definition(definition: bytes, what: str) -> Any:
    try:
        return loads(definition)
    except JSONDecodeError as exc:
        raise InvalidSchemaError(f"invalid {what}: {exc}") from None


class JsonSchema:
    """A compiled JSON Schema; thread-safe (the validator holds no per-call state)."""

    def __init__(self, definition: bytes):
        doc = parse_json_definition(definition, "JSON schema")
        if not isinstance(doc, (dict, bool)):
            raise InvalidSchemaError("invalid JSON schema: a schema is a JSON object or a "
                                     f"boolean, not {type(doc).__name__}")
        try:
            jsonschema_rs.meta.validate(doc)
            # RegexOptions: the linear-time engine, so no pattern can stall a produce
            self._validator = jsonschema_rs.validator_for(
                doc, validate_formats=True, retriever=_no_remote,
                pattern_options=jsonschema_rs.RegexOptions())
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
            raise InvalidSchemaError(f"invalid JSON schema: {_error_text(exc)}") from None
        self.doc = doc
        self.canonical = canonical_json(doc)
        self._is_valid = self._validator.is_valid

    def valid(self, value: bytes) -> bool:
        try:
            return self._is_valid(loads(value))
        except JSONDecodeError:
            return False

    def errors(self, value: bytes) -> list[str]:
        try:
            doc = loads(value)
        except JSONDecodeError as exc:
            return [f"$: not UTF-8 JSON: {one_line(exc)} (json)"]
        return [_item(e) for e in islice(self._validator.iter_errors(doc), MAX_ERRORS)]

    def all_valid(self, values: Sequence[bytes]) -> bool:
        # map/all run in C: per record only the JSON parse and the Rust validation
        try:
            return all(map(self._is_valid, map(loads, values)))
        except JSONDecodeError:
            return False

    def reader_problems(self, writer: CompiledSchema) -> list[str]:
        if not isinstance(writer, JsonSchema):
            return ["the writer is not a JSON schema"]
        return reader_problems(self.doc, writer.doc)


def _error_text(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc).split("\n", 1)[0]
    path = getattr(exc, "schema_path", None)
    where = "/".join(map(str, path)) if path else ""
    return one_line(f"{message} at /{where}" if where else message)


def _item(error: Any) -> str:
    """``$.path: message (rule)``: where the value fails, why, and the keyword that says so."""
    rule = next((str(p) for p in reversed(error.schema_path) if isinstance(p, str)), "schema")
    return f"{path_text(error.instance_path)}: {one_line(error.message)} ({rule})"
