"""The schema types a subject may hold, by the name REGISTER_SCHEMA carries, and what a
compiled schema offers the registry and the append path.

A type module parses a definition once (raising :class:`~flymq.errors.InvalidSchemaError`
when it cannot) into a :class:`CompiledSchema`; the registry caches one per schema version, so
a produce only ever runs an already compiled validator.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from flymq.errors import InvalidSchemaError

#: Validation errors reported per message: enough to fix it, bounded for the wire.
MAX_ERRORS = 10


class CompiledSchema(Protocol):
    """One schema version, parsed and compiled."""

    canonical: str
    """The normalised definition: what is stored, returned and compared on re-registration."""

    def valid(self, value: bytes) -> bool:
        """Whether ``value`` matches: the fast path of a single record."""

    def errors(self, value: bytes) -> list[str]:
        """Why ``value`` does not match (``"<path>: <message> (<rule>)"`` items, at most
        :data:`MAX_ERRORS`); empty when it matches."""

    def all_valid(self, values: Sequence[bytes]) -> bool:
        """Whether every value matches: the fast path of a batch."""

    def reader_problems(self, writer: "CompiledSchema") -> list[str]:
        """What breaks when this schema reads data written with ``writer``."""


def _json(definition: bytes) -> CompiledSchema:
    from flymq.broker.schemas.json_kind import JsonSchema
    return JsonSchema(definition)


def _avro(definition: bytes) -> CompiledSchema:
    from flymq.broker.schemas.avro_kind import AvroSchema
    return AvroSchema(definition)


def _protobuf(definition: bytes) -> CompiledSchema:
    from flymq.broker.schemas.protobuf_kind import ProtobufSchema
    return ProtobufSchema(definition)


#: type name -> compiler; "proto" is upstream's alias of "protobuf" (stored as "protobuf").
COMPILERS: dict[str, Callable[[bytes], CompiledSchema]] = {
    "json": _json, "avro": _avro, "protobuf": _protobuf}
ALIASES = {"proto": "protobuf"}


def schema_type(name: object) -> str:
    """The stored type name of a REGISTER_SCHEMA type; wire text ``unsupported schema type``."""
    text = str(getattr(name, "value", name))
    canonical = ALIASES.get(text.lower(), text.lower())
    if canonical not in COMPILERS:
        raise InvalidSchemaError(f"unsupported schema type: {text}",
                                 wire=f"unsupported schema type: {text}",
                                 hint="The types are json, avro and protobuf.")
    return canonical


def compile_schema(kind: str, definition: bytes) -> CompiledSchema:
    """Parse and compile a definition of a known type (see :func:`schema_type`)."""
    if not definition.strip():
        raise InvalidSchemaError("schema definition cannot be empty")
    return COMPILERS[kind](definition)


ITEMS = "[*]"
"""The path step of "any item of an array" (schema comparisons have no item index)."""


def path_text(path: Sequence[object]) -> str:
    """A JSON instance path as ``$.a.b[0]``: the form every validation item starts with."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else p if p == ITEMS else f".{p}"
                         for p in path)


#: Longest message of one item: a message may quote the whole failing value.
MAX_MESSAGE = 300


def one_line(text: object) -> str:
    """``text`` on one line (items are separated by spaces on the wire), clipped."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_MESSAGE else flat[:MAX_MESSAGE - 3] + "..."
