"""The schema operations of the Broker facade (``Broker`` inherits them): what both front
doors call, through a session, for the schema opcodes and the client's schema methods."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Sequence

from flymq.models import Compatibility, RecordMetadata, SchemaInfo, SchemaType

if TYPE_CHECKING:
    from flymq.broker.schemas.registry import SchemaRegistry, SchemaVersion


def _entry(v: "SchemaVersion") -> dict[str, Any]:
    return {"name": v.subject, "type": v.schema_type, "version": v.version}


class SchemaOperations:
    """Mixed into ``Broker``: each method checks the broker is open, then asks the registry."""

    _schemas: "SchemaRegistry"

    def register_schema(self, name: str, schema_type: str, schema: bytes) -> int:
        """Register ``schema`` under ``name``; the new version, or the existing version with
        the same normalised definition. Checked against the subject's compatibility mode."""
        self._check_open()
        if not isinstance(schema, bytes):
            schema = bytes(schema)
        return self._schemas.register(name, schema_type, schema).version

    def get_schema(self, name: str, version: int = 0) -> dict[str, Any]:
        """``{name, type, version}`` of a version (0 = latest); SchemaNotFoundError if none."""
        self._check_open()
        return _entry(self._schemas.get(name, version))

    def describe_schema(self, name: str, version: int = 0) -> SchemaInfo:
        """[ext] A version with its definition and the subject's compatibility mode."""
        self._check_open()
        v = self._schemas.get(name, version)
        return SchemaInfo(v.id, v.subject, SchemaType(v.schema_type), v.version, v.definition,
                          Compatibility(self._schemas.compatibility(name)),
                          datetime.fromtimestamp(v.created_ms / 1000, timezone.utc))

    def list_schemas(self, name: str = "") -> list[dict[str, Any]]:
        """Every live version (of ``name`` when given), by name then version."""
        self._check_open()
        return [_entry(v) for v in self._schemas.list(name)]

    def schema_errors(self, name: str, message: bytes) -> list[str]:
        """Why ``message`` does not match the latest version of ``name`` ([] if it does)."""
        self._check_open()
        return self._schemas.errors(name, message)

    def validate_schema(self, name: str, message: bytes) -> bool:
        """Dry run: whether ``message`` matches the latest version of ``name``."""
        return not self.schema_errors(name, message)

    def check_schema(self, name: str, message: bytes, version: int = 0) -> None:
        """SchemaValidationError (each failing path and rule) unless ``message`` matches."""
        self._check_open()
        self._schemas.validate(name, message, version)

    def delete_schema(self, name: str, version: int = 0) -> None:
        """Delete one version, or all of them (0)."""
        self._check_open()
        self._schemas.delete(name, version)

    def get_schema_compatibility(self, name: str = "") -> str:
        """[ext] The mode ``name`` is checked with; the global mode for ``""``."""
        self._check_open()
        return self._schemas.compatibility(name)

    def set_schema_compatibility(self, mode: str, name: str = "") -> str:
        """[ext] Set the mode of ``name`` (the global one for ``""``); durable; returns it."""
        self._check_open()
        return self._schemas.set_compatibility(mode, name)

    def check_topic_schema(self, topic: str, values: Sequence[bytes]) -> None:
        """Validate ``values`` against the schema ``topic`` is bound to (nothing to do when
        it has none): for a path that accepts records now and appends them later, such as
        delayed delivery, so that a record the append would refuse is refused up front."""
        t = self._by_name.get(topic)  # type: ignore[attr-defined]
        if t is not None and t.config.schema is not None:
            self._schemas.validate_all(t.config.schema, values)

    def produce_with_schema(self, topic: str, value: bytes, schema_name: str, *,
                            version: int = 0) -> RecordMetadata:
        """Append ``value`` (unkeyed) once it matches ``schema_name`` (latest or ``version``);
        ``produce`` then checks the broker is open."""
        self._schemas.validate(schema_name, value, version)
        return self.produce(topic, value)  # type: ignore[attr-defined]
