"""The schema opcodes as pyflymq and the Go SDK send and read them (wire spec §6.2): the
seed's and example 07's calls through pyflymq's framing, PRODUCE_WITH_SCHEMA in both SDKs'
field orders, and the Go SDK's DeleteSchema(name), which sends version 0 for "all"."""

from __future__ import annotations

import json
import struct

import pytest

from .sdkwire import ServerError, b32, go_error_text, py_bool, py_record_metadata, s8, s16

USER = json.dumps({"type": "object", "required": ["user_id", "name", "email"], "properties": {
    "user_id": {"type": "integer"}, "name": {"type": "string"},
    "email": {"type": "string", "format": "email"}}}).encode()
ALICE = b'{"user_id": 1, "name": "Alice", "email": "alice@example.com"}'


def py_list_schemas(data: bytes) -> list[dict]:
    """pyflymq's LIST_SCHEMAS decoder (GET_SCHEMA reads the first entry of the same layout)."""
    (count,), pos, out = struct.unpack(">I", data[:4]), 4, []
    for _ in range(count):
        (n,) = struct.unpack(">H", data[pos:pos + 2])
        name = data[pos + 2:pos + 2 + n].decode()
        pos += 2 + n
        t = data[pos + 1:pos + 1 + data[pos]].decode()
        pos += 1 + data[pos]
        (version,) = struct.unpack(">I", data[pos:pos + 4])
        pos += 4
        out.append({"name": name, "type": t, "version": version})
    assert pos == len(data)
    return out


def test_pyflymq_register_produce_validate_list_get(py):
    py.request(0x10, s16("user-schema") + s8("json") + b32(USER))      # reply ignored
    meta = py_record_metadata(py.request(0x14, s16("users") + b32(ALICE) + s16("user-schema")))
    assert (meta.topic, meta.offset) == ("users", 0)
    text = py.error(0x14, s16("users") + b32(b'{"user_id": 2, "name": "Bob"}') +
                    s16("user-schema"))
    assert text == 'schema validation failed: [$: "email" is a required property (required)]'
    assert py_bool(py.request(0x13, s16("user-schema") + b32(ALICE)))
    assert not py_bool(py.request(0x13, s16("user-schema") + b32(b"{}")))
    listed = [{"name": "user-schema-v1", "type": "json", "version": 1}]
    assert py_list_schemas(py.request(0x12, s16(""))) == listed
    assert py_list_schemas(py.request(0x11, s16("user-schema") + struct.pack(">I", 0))) == listed
    py.request(0x15, s16("user-schema") + struct.pack(">I", 1))
    with pytest.raises(ServerError, match="no schema found for topic: user-schema"):
        py.request(0x11, s16("user-schema") + struct.pack(">I", 0))


def test_go_sdk_order_and_delete_all(go):
    assert go.roundtrip(0x10, s16("s") + s8("json") + b32(USER)).op == 0x10
    reply = go.roundtrip(0x14, s16("users") + s16("s") + b32(ALICE))
    assert reply.op == 0x14 and py_record_metadata(reply.payload).offset == 0
    bad = go.roundtrip(0x14, s16("users") + s16("s") + b32(b"[]"))
    assert bad.op == 0xFF and go_error_text(bad.payload).startswith("schema validation failed: [")
    assert go.roundtrip(0x10, s16("s") + s8("json") + b32(USER + b" ")).op == 0x10  # same: v1
    assert go.roundtrip(0x15, s16("s") + struct.pack(">I", 0)).op == 0x15          # all
    assert py_list_schemas(go.roundtrip(0x12, s16("s")).payload) == []
