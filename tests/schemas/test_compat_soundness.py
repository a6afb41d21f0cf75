"""The JSON Schema compatibility check is sound on generated evolutions: when it finds nothing
that breaks, every record the writer schema accepts (with declared properties only, the
documented allowance) is accepted by the reader schema, as jsonschema-rs judges them."""

from __future__ import annotations

import jsonschema_rs
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from flymq.broker.schemas.json_compat import reader_problems

NAMES = ("a", "b", "c")
TYPES = {"integer": st.integers(-5, 5), "number": st.floats(-5, 5, allow_nan=False),
         "string": st.text(max_size=3), "boolean": st.booleans(), "null": st.none()}


@st.composite
def property_schema(draw) -> dict:
    types = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=2, unique=True))
    schema: dict = {"type": types[0] if len(types) == 1 else types}
    if "integer" in types and draw(st.booleans()):
        schema["minimum"] = draw(st.integers(-5, 5))
    if "string" in types and draw(st.booleans()):
        schema["maxLength"] = draw(st.integers(0, 3))
    if draw(st.booleans()) and types == ["string"]:
        schema = {"enum": draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=1,
                                        unique=True))}
    return schema


@st.composite
def object_schema(draw) -> dict:
    props = draw(st.dictionaries(st.sampled_from(NAMES), property_schema(), max_size=3))
    required = draw(st.lists(st.sampled_from(sorted(props) or ["a"]), unique=True))
    schema = {"type": "object", "properties": props, "required": required}
    if draw(st.booleans()):
        schema["additionalProperties"] = False
    return schema


def instance_of(schema: dict, draw) -> dict:
    """A record the schema accepts, built from its declared properties."""
    out = {}
    for name, prop in schema["properties"].items():
        if name in schema["required"] or draw(st.booleans()):
            if "enum" in prop:
                out[name] = draw(st.sampled_from(prop["enum"]))
            else:
                types = [prop["type"]] if isinstance(prop["type"], str) else prop["type"]
                value = draw(TYPES[draw(st.sampled_from(types))])
                if type(value) in (int, float) and "minimum" in prop:  # not a bool
                    value = max(value, prop["minimum"])
                if isinstance(value, str) and "maxLength" in prop:
                    value = value[:prop["maxLength"]]
                out[name] = value
    return out


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(writer=object_schema(), reader=object_schema(), data=st.data())
def test_no_problem_found_means_every_writer_record_is_readable(writer, reader, data):
    if any(name not in writer["properties"] for name in writer["required"]):
        return  # a required property with no declaration: nothing to build it from
    if reader_problems(reader, writer):
        event("refused")
        return
    event("accepted")
    record = instance_of(writer, data.draw)
    assert jsonschema_rs.is_valid(writer, record), (writer, record)
    assert jsonschema_rs.is_valid(reader, record), (reader, writer, record)
