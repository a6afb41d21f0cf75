"""Arbitrary definitions and records never raise anything but the registry's own errors:
a schema is registered or refused with InvalidSchemaError / SchemaCompatibilityError, a record
matches or gets a SchemaValidationError (no library exception, no Rust panic escapes)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from flymq.broker.schemas.registry import SchemaRegistry
from flymq.broker.storage import FsyncPolicy, LogConfig
from flymq.clock import SYSTEM_CLOCK
from flymq.errors import (InvalidSchemaError, SchemaCompatibilityError, SchemaValidationError,
                          UnsupportedOperationError)

KEYWORDS = ["type", "properties", "required", "items", "enum", "const", "minimum", "maxLength",
            "pattern", "format", "$ref", "anyOf", "oneOf", "allOf", "not", "$defs",
            "additionalProperties", "fields", "name", "symbols", "default", "$schema"]
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                   st.sampled_from(["object", "string", "integer", "#", "#/$defs/x", "record",
                                    "email", "^a+$", "(", "int", "long", "null", "x"]))
JSONISH = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYWORDS), inner, max_size=4)),
    max_leaves=12)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    r = SchemaRegistry(tmp_path_factory.mktemp("fuzz"), LogConfig(fsync=FsyncPolicy.NEVER),
                       clock=SYSTEM_CLOCK, flusher=None, max_schema_bytes=1 << 16)
    r.set_compatibility("none")
    yield r
    r.close()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["json", "avro"]), schema=JSONISH,
       raw=st.one_of(st.binary(max_size=40), JSONISH.map(lambda v: json.dumps(v).encode())))
def test_any_definition_and_record(registry, kind, schema, raw):
    try:
        registry.register(f"s-{kind}", kind, json.dumps(schema).encode())
    except (InvalidSchemaError, SchemaCompatibilityError):
        event(f"{kind}: refused")
        return
    except UnsupportedOperationError:
        pytest.skip("the avro extra is not installed")
    event(f"{kind}: registered")
    try:
        registry.validate(f"s-{kind}", raw)
        registry.validate_all(f"s-{kind}", [raw, raw])
    except SchemaValidationError as exc:
        assert exc.errors and all(isinstance(e, str) for e in exc.errors)
