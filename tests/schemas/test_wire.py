"""The schema opcodes byte for byte (wire spec §6.2): both PRODUCE_WITH_SCHEMA field orders,
the pyflymq GET_SCHEMA layout, ids in LIST_SCHEMAS, VALIDATE_SCHEMA's error list and
DELETE_SCHEMA version 0, as a raw socket sends them."""

from __future__ import annotations

import socket
import struct

import pytest

from flymq import protocol as p
from flymq.errors import error_from_wire
from flymq.protocol import Op

SCHEMA = b'{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}'


def s16(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def b32(raw: bytes) -> bytes:
    return struct.pack(">I", len(raw)) + raw


class Raw:
    def __init__(self, address: str):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.decoder = p.FrameDecoder()
        self.frames: list = []

    def call(self, op: int, payload: bytes) -> p.Frame:
        self.sock.sendall(p.encode_frame(op, payload))
        while not self.frames:
            self.frames += self.decoder.feed(self.sock.recv(65536))
        return self.frames.pop(0)

    def ok(self, op: int, payload: bytes) -> bytes:
        frame = self.call(op, payload)
        assert frame.op == op, p.ErrorResponse.decode(frame.payload).message
        return frame.payload

    def error(self, op: int, payload: bytes) -> str:
        frame = self.call(op, payload)
        assert frame.op == Op.ERROR
        return p.ErrorResponse.decode(frame.payload).message


@pytest.fixture
def raw(flymq_server):
    conn = Raw(flymq_server)
    yield conn
    conn.sock.close()


def test_register_get_list_validate_delete(raw):
    reply = raw.ok(Op.REGISTER_SCHEMA, s16("user") + b"\x04json" + b32(SCHEMA))
    assert reply == s16("user") + b"\x04json" + struct.pack(">I", 1)
    entry = s16("user-v1") + b"\x04json" + struct.pack(">I", 1)
    assert raw.ok(Op.GET_SCHEMA, s16("user") + struct.pack(">I", 0)) == \
        struct.pack(">I", 1) + entry
    assert raw.ok(Op.LIST_SCHEMAS, s16("")) == struct.pack(">I", 1) + entry
    assert raw.ok(Op.LIST_SCHEMAS, b"") == struct.pack(">I", 1) + entry   # short = all
    assert raw.ok(Op.VALIDATE_SCHEMA, s16("user") + b32(b'{"id": 1}')) == b"\x01" + b"\0" * 4
    invalid = raw.ok(Op.VALIDATE_SCHEMA, s16("user") + b32(b"{}"))
    assert invalid == b"\x00" + struct.pack(">I", 1) + s16(
        '$: "id" is a required property (required)')
    assert raw.error(Op.GET_SCHEMA, s16("user") + struct.pack(">I", 7)) == \
        "schema not found: user v7"
    assert raw.error(Op.GET_SCHEMA, s16("nobody") + struct.pack(">I", 0)) == \
        "no schema found for topic: nobody"
    assert raw.ok(Op.DELETE_SCHEMA, s16("user") + struct.pack(">I", 0)) == b"\x01" + s16("OK")
    assert raw.error(Op.DELETE_SCHEMA, s16("user") + struct.pack(">I", 0)) == \
        "failed to delete schema: schema not found: user v0"


@pytest.mark.parametrize("order", ["pyflymq", "go"])
def test_produce_with_schema_accepts_both_field_orders(raw, order):
    raw.ok(Op.REGISTER_SCHEMA, s16("user") + b"\x04json" + b32(SCHEMA))

    def request(data: bytes) -> bytes:
        if order == "pyflymq":
            return s16("users") + b32(data) + s16("user")
        return s16("users") + s16("user") + b32(data)

    reply = p.RecordMetadataResponse.decode(raw.ok(Op.PRODUCE_WITH_SCHEMA,
                                                   request(b'{"id": 1}')))
    assert (reply.topic, reply.partition, reply.offset, reply.key_size) == ("users", 0, 0, -1)
    text = raw.error(Op.PRODUCE_WITH_SCHEMA, request(b'{"id": "x"}'))
    assert text == 'schema validation failed: [$.id: "x" is not of type "integer" (type)]'
    assert error_from_wire(text, schema="user").errors == [
        '$.id: "x" is not of type "integer" (type)']
    assert raw.error(Op.PRODUCE_WITH_SCHEMA, request(b'{"id": 1}') + b"x") == \
        "invalid binary format"
    assert p.RecordMetadataResponse.decode(raw.ok(Op.PRODUCE_WITH_SCHEMA,
                                                  request(b'{"id": 2}'))).offset == 1


def test_errors_of_the_catalogue(raw):
    assert raw.error(Op.REGISTER_SCHEMA, s16("x") + b"\x03xml" + b32(b"<a/>")) == \
        "unsupported schema type: xml"
    assert raw.error(Op.REGISTER_SCHEMA, s16("x") + b"\x04avro" + b32(b"")) == \
        "failed to register schema: invalid schema definition: schema definition cannot be empty"
    assert raw.error(Op.REGISTER_SCHEMA, s16("x") + b"\x04json" + b32(b"[1")).startswith(
        "failed to register schema: invalid schema definition: invalid JSON schema: ")
    raw.ok(Op.REGISTER_SCHEMA, s16("x") + b"\x04json" + b32(b'{"properties": {"a": {}}}'))
    assert raw.error(Op.REGISTER_SCHEMA, s16("x") + b"\x04json" + b32(
        b'{"required": ["b"], "properties": {"a": {}, "b": {}}}')) == (
        "failed to register schema: schema compatibility check failed: BACKWARD: new schema "
        "reading v1 data: $.b: required by the reader, not declared for the writer")
