"""The schema registry coordinator: subjects, their versions and compatibility settings,
kept on a :class:`~flymq.broker.statelog.StateLog` (``data_dir/schemas/subjects``).

Every change is appended to the log before it shows in memory, so a registered version, a
deletion or a compatibility setting survives ``kill -9``. Version numbers of a subject are
never reused, also after deletions and restarts (the log keeps each subject's next number),
so ``<subject>-v<N>`` names one definition for good. Compiled validators are cached per
version; the latest of each subject sits in :attr:`SchemaRegistry.latest`, which the append
path reads without a lock.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

from flymq.broker.schemas.compatibility import DEFAULT_MODE, check_mode, problems
from flymq.broker.schemas.kinds import CompiledSchema, compile_schema, schema_type
from flymq.broker.statelog import LazyStateLog
from flymq.broker.storage import Flusher, LogConfig
from flymq.clock import Clock
from flymq.errors import (InvalidRequestError, InvalidSchemaError, SchemaCompatibilityError,
                          SchemaNotFoundError, SchemaValidationError)
from flymq.topic_names import topic_name_problem

LOG_DIR = "subjects"


class SchemaVersion(NamedTuple):
    """One registered version of a subject."""

    subject: str
    version: int
    schema_type: str
    definition: str
    created_ms: int

    @property
    def id(self) -> str:
        """``<subject>-v<version>``, the id upstream lists (stable: versions are never reused)."""
        return f"{self.subject}-v{self.version}"


class _Subject:
    __slots__ = ("versions", "next_version", "compatibility")

    def __init__(self) -> None:
        self.versions: dict[int, SchemaVersion] = {}   # in version order
        self.next_version = 1
        self.compatibility: str | None = None          # None: the global setting


def _change(*fields: object) -> bytes:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class SchemaRegistry:
    """Every schema subject of one broker; thread-safe."""

    def __init__(self, directory: Path, log_config: LogConfig, *, clock: Clock,
                 flusher: Flusher | None, max_schema_bytes: int,
                 default_compatibility: str = DEFAULT_MODE, compact_min_records: int = 1000):
        self._lock = threading.Lock()
        self._clock = clock
        self.max_schema_bytes = max_schema_bytes
        self._default_mode = check_mode(default_compatibility)
        self._global_mode: str | None = None
        self._subjects: dict[str, _Subject] = {}
        self._compiled: dict[tuple[str, int], CompiledSchema] = {}
        self.latest: dict[str, CompiledSchema | None] = {}
        """subject -> compiled latest version, None until first needed (see :meth:`latest_of`)."""
        # a broker that never registered a schema does not create the log (about 7 ms of
        # directory creation and fsyncs at every fresh broker's start)
        self._log = LazyStateLog(directory / LOG_DIR, name="__schemas/0", log_config=log_config,
                                 clock=clock, flusher=flusher,
                                 compact_min_records=compact_min_records)
        for change in self._log.replay():
            self._apply(json.loads(change))

    def close(self) -> None:
        with self._lock:
            self._log.close()

    # --- state changes (logged first, then applied) ----------------------------------------
    def _apply(self, entry: list) -> None:
        op = entry[0]
        if op == "register":
            _, subject, version, kind, definition, created = entry
            s = self._subjects.setdefault(subject, _Subject())
            s.versions[version] = SchemaVersion(subject, version, kind, definition, created)
            s.next_version = max(s.next_version, version + 1)
            self.latest[subject] = None
        elif op == "delete":
            _, subject, version = entry
            s = self._subjects.get(subject)
            if s is not None:
                for v in ([version] if version else list(s.versions)):
                    s.versions.pop(v, None)
                    self._compiled.pop((subject, v), None)
                if s.versions:
                    self.latest[subject] = None
                else:
                    self.latest.pop(subject, None)
        elif op == "next":
            self._subjects.setdefault(entry[1], _Subject()).next_version = entry[2]
        elif op == "compat":
            _, subject, mode = entry
            if subject:
                self._subjects.setdefault(subject, _Subject()).compatibility = mode
            else:
                self._global_mode = mode

    def _record(self, *entry: object) -> None:
        self._log.append(_change(*entry))
        self._apply(list(entry))
        self._log.compact_if_due(self._snapshot)

    def _snapshot(self) -> Iterator[bytes]:
        if self._global_mode is not None:
            yield _change("compat", "", self._global_mode)
        for name, s in self._subjects.items():
            yield _change("next", name, s.next_version)
            if s.compatibility is not None:
                yield _change("compat", name, s.compatibility)
            for v in s.versions.values():
                yield _change("register", name, v.version, v.schema_type, v.definition,
                              v.created_ms)

    # --- operations ------------------------------------------------------------------------
    def register(self, subject: str, kind: str, definition: bytes) -> SchemaVersion:
        """Add a version, or return the live one with the same normalised definition.

        The new schema is parsed and compiled, then checked against the subject's
        compatibility mode; nothing is stored when either fails.
        """
        check_subject(subject)
        kind = schema_type(kind)
        if len(definition) > self.max_schema_bytes:
            raise InvalidSchemaError(
                f"schema definition of {len(definition)} bytes is larger than the limit of "
                f"{self.max_schema_bytes} bytes", hint="Raise max_schema_bytes in the broker "
                "config, or split the schema.")
        compiled = compile_schema(kind, definition)
        with self._lock:
            s = self._subjects.get(subject) or _Subject()
            for existing in s.versions.values():
                if existing.schema_type == kind and existing.definition == compiled.canonical:
                    return existing
            mode = self._mode(s)
            live = [(v.version, self._compiled_locked(v)) for v in s.versions.values()
                    if v.schema_type == kind]
            if any(v.schema_type != kind for v in s.versions.values()) and mode != "none":
                raise SchemaCompatibilityError(subject, [
                    f"the subject holds {next(iter(s.versions.values())).schema_type} schemas, "
                    f"not {kind}"])
            broken = problems(mode, compiled, live, lambda r, w: r.reader_problems(w))
            if broken:
                raise SchemaCompatibilityError(subject, [f"{mode.upper()}: {p}" for p in broken])
            version = s.next_version
            self._record("register", subject, version, kind, compiled.canonical,
                         self._clock.now_ms())
            self._compiled[(subject, version)] = compiled
            return self._subjects[subject].versions[version]

    def get(self, subject: str, version: int = 0) -> SchemaVersion:
        """A version (0 = the latest); wire texts of GET_SCHEMA when missing."""
        with self._lock:
            return self._version(subject, version)

    def _version(self, subject: str, version: int) -> SchemaVersion:
        s = self._subjects.get(subject)
        if s is None or not s.versions:
            raise SchemaNotFoundError(subject, wire=f"no schema found for topic: {subject}")
        if version == 0:
            return s.versions[max(s.versions)]
        found = s.versions.get(version)
        if found is None:
            raise SchemaNotFoundError(subject, version=version)
        return found

    def list(self, subject: str = "") -> list[SchemaVersion]:
        """Every live version (of ``subject`` when given), by subject then version."""
        with self._lock:
            names = sorted(self._subjects) if not subject else [subject]
            return [v for n in names if n in self._subjects
                    for _, v in sorted(self._subjects[n].versions.items())]

    def delete(self, subject: str, version: int = 0) -> None:
        """Delete one version, or every version (0). The numbers are not given out again."""
        with self._lock:
            s = self._subjects.get(subject)
            if s is None or not s.versions or (version and version not in s.versions):
                raise SchemaNotFoundError(subject, version=version,
                                          wire=f"failed to delete schema: schema not found: "
                                               f"{subject} v{version}")
            self._record("delete", subject, version)

    def compatibility(self, subject: str = "") -> str:
        """The mode a subject is checked with (its own, else the global one)."""
        with self._lock:
            if subject:
                check_subject(subject)
                return self._mode(self._subjects.get(subject))
            return self._global_mode or self._default_mode

    def set_compatibility(self, mode: str, subject: str = "") -> str:
        """Set a subject's mode (or the global one, for ``subject=""``); returns it."""
        mode = check_mode(mode)
        if subject:
            check_subject(subject)
        with self._lock:
            self._record("compat", subject, mode)
        return mode

    def _mode(self, s: _Subject | None) -> str:
        if s is not None and s.compatibility is not None:
            return s.compatibility
        return self._global_mode or self._default_mode

    # --- validation ------------------------------------------------------------------------
    def _compiled_locked(self, v: SchemaVersion) -> CompiledSchema:
        key = (v.subject, v.version)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = compile_schema(v.schema_type,
                                                            v.definition.encode("utf-8"))
        return compiled

    def compiled(self, subject: str, version: int = 0) -> CompiledSchema:
        """The cached validator of a version (0 = latest); SchemaNotFoundError if none."""
        if version == 0:
            compiled = self.latest.get(subject)
            if compiled is not None:
                return compiled
        with self._lock:
            v = self._version(subject, version)
            compiled = self._compiled_locked(v)
            if version == 0 and subject in self.latest:
                self.latest[subject] = compiled
            return compiled

    def validate(self, subject: str, value: bytes, version: int = 0) -> None:
        """SchemaValidationError naming each failing path and rule, unless ``value`` matches."""
        # the latest version's validator without a lock or a call: the produce hot path
        compiled = self.latest.get(subject) if not version else None
        if compiled is None:
            compiled = self.compiled(subject, version)
        if not compiled.valid(value):  # the errors are worked out only for invalid data
            raise SchemaValidationError(subject, compiled.errors(value))

    def validate_all(self, subject: str, values: Sequence[bytes], version: int = 0) -> None:
        """:meth:`validate` of a batch: one C-level pass when all match; else the errors of
        the first record that does not, prefixed with its index (``#3 $.a: ...``)."""
        compiled = self.compiled(subject, version)
        if compiled.all_valid(values):
            return
        for index, value in enumerate(values):
            errors = compiled.errors(value)
            if errors:
                raise SchemaValidationError(subject, [f"#{index} {e}" for e in errors]
                                            if len(values) > 1 else errors)

    def errors(self, subject: str, value: bytes) -> list[str]:
        """VALIDATE_SCHEMA: why ``value`` does not match the latest version ([] if it does)."""
        return self.compiled(subject).errors(value)


def check_subject(subject: object) -> str:
    """Subject names follow the topic-name rules (they are often a topic's name)."""
    problem = topic_name_problem(subject)  # type: ignore[arg-type]
    if problem is not None:
        raise InvalidRequestError(f"invalid schema name: {subject!r}: {problem}",
                                  hint="Schema names follow the topic-name rules: 1-249 bytes "
                                       "of UTF-8, no control characters, '\\', '+' or '#'.")
    return subject  # type: ignore[return-value]
