"""Messages of the later feature areas: schemas (§6.2), DLQ (§6.3), delayed/TTL (§6.4),
transactions (§6.5), authentication (§6.8), users/ACLs/roles (§6.9) and audit (§6.10).

Where upstream layouts conflict, encode writes what the spec decides for flymq and decode
also accepts the other real-server layout (GET_SCHEMA, WHOAMI, PRODUCE_WITH_SCHEMA, REPLAY_DLQ).
"""

from __future__ import annotations

import struct

from flymq.errors import InvalidRequestError
from flymq.protocol.codec import (BOOL, BUFFER_TOO_SMALL, BYTES32, I32, I64, INVALID_FORMAT,
                                  REST, STR8, STR16, U32, FieldType, List16, List32, Map16, Map32, Message, Nested,
                                  Optional, Reader, Sized, Writer, decode_error_prefix, field,
                                  message)
from flymq.protocol.messages import (AckResponse, RecordMetadataResponse, TopicRequest,
                                     request, response)
from flymq.protocol.opcodes import Op

__all__ = [
    "RegisterSchemaRequest", "RegisterSchemaResponse", "GetSchemaRequest", "SchemaEntry",
    "GetSchemaResponse", "ListSchemasRequest", "ListSchemasResponse", "ValidateSchemaRequest",
    "ValidateSchemaResponse", "ProduceWithSchemaRequest", "DeleteSchemaRequest",
    "SchemaDescribeRequest", "SchemaDescribeResponse", "SchemaCompatibilityRequest",
    "SchemaCompatibilityResponse", "ProduceWithSchemaExRequest",
    "SuccessResponse", "FetchDLQRequest", "DLQEntry", "FetchDLQResponse", "ReplayDLQRequest",
    "ReInjectDLQResponse", "ProduceDelayedRequest", "ProduceWithTTLRequest", "TxnRequest",
    "TxnResponse", "ProduceTxRequest", "TxnOffset", "TxnOffsetCommitRequest", "AuthRequest", "AuthResponse", "WhoAmIResponse",
    "UserRequest", "UserInfo", "UsernameRequest", "UserListResponse", "AclSetRequest",
    "AclResult", "AclInfo", "AclListEntry", "AclListResponse", "RoleInfo", "RoleListResponse",
    "AuditQueryRequest", "AuditEvent", "AuditQueryResponse", "AuditExportRequest",
    "AuditExportResponse", "AuditQuerySdkRequest", "AuditEventSdk", "AuditQuerySdkResponse",
    "AuditExportSdkRequest", "RawResponse",
]

request(Op.PURGE_DLQ, Op.ACL_GET, Op.ACL_DELETE)(TopicRequest)


# --- schema registry (0x10-0x15) -----------------------------------------------------------------

@request(Op.REGISTER_SCHEMA)
@message
class RegisterSchemaRequest(Message):
    name: str = field(STR16)
    schema_type: str = field(STR8, "json")
    definition: bytes = field(BYTES32, b"")


@response(Op.REGISTER_SCHEMA)
@message
class RegisterSchemaResponse(Message):
    name: str = field(STR16)
    schema_type: str = field(STR8)
    version: int = field(U32)


@request(Op.GET_SCHEMA)
@message
class GetSchemaRequest(Message):
    name: str = field(STR16)
    version: int = field(U32, 0)          # 0 = latest


@message
class SchemaEntry(Message):
    name: str = field(STR16)
    schema_type: str = field(STR8)
    version: int = field(U32)


@request(Op.LIST_SCHEMAS)
@message
class ListSchemasRequest(Message):
    name: str = field(Optional(STR16, ""), "")   # empty (or no payload) = all


@response(Op.LIST_SCHEMAS)
@message
class ListSchemasResponse(Message):
    schemas: list[SchemaEntry] = field(List32(Nested(SchemaEntry)), [])


@message
class _GoSchema(Message):
    """The real Go server's GET_SCHEMA reply (§6.2.2)."""

    id: str = field(STR16)
    name: str = field(STR16)
    version: int = field(U32)
    schema_type: str = field(STR8)
    definition: bytes = field(BYTES32)
    compatibility: str = field(STR8)


@response(Op.GET_SCHEMA)
@message
class GetSchemaResponse(Message):
    """Encodes the pyflymq layout (a one-entry LIST_SCHEMAS reply); decodes it or, failing an
    exact fit, the Go single-schema layout. ``version == 0`` means no schema was listed."""

    name: str = field(STR16, "")
    schema_type: str = field(STR8, "")
    version: int = field(U32, 0)
    definition: bytes = b""
    compatibility: str = ""

    def encode(self) -> bytes:
        return ListSchemasResponse([SchemaEntry(self.name, self.schema_type, self.version)]).encode()

    @classmethod
    def decode(cls, payload: bytes) -> "GetSchemaResponse":
        listed = ListSchemasResponse.decode_exact(payload)
        if listed is not None:
            if not listed.schemas:
                return cls()
            e = listed.schemas[0]
            return cls(e.name, e.schema_type, e.version)
        g = _GoSchema.decode(payload)
        return cls(g.name, g.schema_type, g.version, g.definition, g.compatibility)


@request(Op.VALIDATE_SCHEMA)
@message
class ValidateSchemaRequest(Message):
    name: str = field(STR16)
    message: bytes = field(BYTES32, b"")


@response(Op.VALIDATE_SCHEMA)
@message
class ValidateSchemaResponse(Message):
    valid: bool = field(BOOL)
    errors: list[str] = field(Optional(List32(STR16), []), [])


@message
class _SchemaProduceP(Message):
    topic: str = field(STR16)
    data: bytes = field(BYTES32)
    schema_name: str = field(STR16)


@request(Op.PRODUCE_WITH_SCHEMA)
@message
class ProduceWithSchemaRequest(Message):
    """Encodes the Go order (topic, schema, data) that real servers parse; decodes both orders
    by exact length, preferring the pyflymq order when both fit (§6.2.5)."""

    topic: str = field(STR16)
    schema_name: str = field(STR16)
    data: bytes = field(BYTES32)

    @classmethod
    def decode(cls, payload: bytes) -> "ProduceWithSchemaRequest":
        if len(payload) < cls.MIN_SIZE:
            raise InvalidRequestError(BUFFER_TOO_SMALL)
        p = _SchemaProduceP.decode_exact(payload)
        if p is not None:
            return cls(p.topic, p.schema_name, p.data)
        g = cls.decode_exact(payload)
        if g is None:
            raise InvalidRequestError(INVALID_FORMAT)
        return g


@request(Op.DELETE_SCHEMA)
@message
class DeleteSchemaRequest(Message):
    name: str = field(STR16)
    version: int = field(U32, 0)          # 0 = all versions (flymq)


# flymq extensions of the registry (docs/protocol-extensions.md)

@request(Op.SCHEMA_DESCRIBE)
@message
class SchemaDescribeRequest(Message):
    name: str = field(STR16)
    version: int = field(U32, 0)          # 0 = latest


@response(Op.SCHEMA_DESCRIBE)
@message
class SchemaDescribeResponse(Message):
    name: str = field(STR16)
    version: int = field(U32)
    schema_type: str = field(STR8)
    definition: bytes = field(BYTES32)
    compatibility: str = field(STR8)
    created_ms: int = field(I64)


@request(Op.SCHEMA_COMPATIBILITY)
@message
class SchemaCompatibilityRequest(Message):
    name: str = field(STR16)              # "" = the global setting
    mode: str = field(STR8, "")           # "" = only read it


@response(Op.SCHEMA_COMPATIBILITY)
@message
class SchemaCompatibilityResponse(Message):
    mode: str = field(STR8)


@request(Op.PRODUCE_WITH_SCHEMA_EX)
@message
class ProduceWithSchemaExRequest(Message):
    topic: str = field(STR16)
    schema_name: str = field(STR16)
    version: int = field(U32, 0)          # 0 = latest
    key: bytes = field(BYTES32, b"")      # empty = no key
    value: bytes = field(BYTES32, b"")
    partition: int = field(I32, -1)       # -1 = key hash or round-robin


response(Op.PRODUCE_WITH_SCHEMA_EX)(RecordMetadataResponse)


@response(Op.DELETE_SCHEMA, Op.REPLAY_DLQ, Op.PURGE_DLQ, Op.USER_DELETE, Op.USER_UPDATE,
          Op.PASSWORD_CHANGE)
@message
class SuccessResponse(Message):
    success: bool = field(BOOL, True)
    message: str = field(STR16, "OK")


# --- dead-letter queue (0x20-0x22) ---------------------------------------------------------------

@request(Op.FETCH_DLQ)
@message
class FetchDLQRequest(Message):
    topic: str = field(STR16)
    max_messages: int = field(I32, 10)


@message
class DLQEntry(Message):
    id: str = field(STR16)
    data: bytes = field(BYTES32, b"")
    error: str = field(STR16, "")
    retries: int = field(I32, 0)


@response(Op.FETCH_DLQ)
@message
class FetchDLQResponse(Message):
    messages: list[DLQEntry] = field(List32(Nested(DLQEntry)), [])


@request(Op.REPLAY_DLQ)
@message(min_size=4)
class ReplayDLQRequest(Message):
    """Form A (by ``message_id``) or, when ``offset`` is set, form B (re-inject by DLQ offset).

    Decoding tells them apart as §6.3.2 says: after the topic exactly 8 bytes remain and their
    first two, read as u16, are not 6.
    """

    topic: str
    message_id: str = ""
    offset: int | None = None

    def write_to(self, w: Writer) -> None:
        w.str16(self.topic)
        if self.offset is None:
            w.str16(self.message_id)
        else:
            w.u64(self.offset)

    @classmethod
    def read_from(cls, r: Reader) -> "ReplayDLQRequest":
        topic = r.str16()
        if r.remaining == 8 and struct.unpack_from(">H", r.buf, r.pos)[0] != 6:
            return cls(topic, offset=r.u64())
        return cls(topic, r.str16())

    @property
    def is_reinject(self) -> bool:
        return self.offset is not None


def _read_text32(r: Reader) -> str:
    return r.bytes32().decode("utf-8", "replace")


_TEXT32 = FieldType(4, _read_text32, lambda w, v: w.bytes32(v.encode("utf-8")), "",
                    ("text32",))


@message
class ReInjectDLQResponse(Message):
    """Form-B reply of REPLAY_DLQ: success u8, then a message with a **u32** length (D8)."""

    success: bool = field(BOOL, True)
    message: str = field(_TEXT32, "OK")


# --- delayed / TTL (0x30, 0x35) --------------------------------------------------------------------

@request(Op.PRODUCE_DELAYED)
@message
class ProduceDelayedRequest(Message):
    topic: str = field(STR16)
    data: bytes = field(BYTES32, b"")
    delay_ms: int = field(I64, 0)


@request(Op.PRODUCE_WITH_TTL)
@message
class ProduceWithTTLRequest(Message):
    topic: str = field(STR16)
    data: bytes = field(BYTES32, b"")
    ttl_ms: int = field(I64, 0)


# --- transactions (0x40-0x43) ----------------------------------------------------------------------

@request(Op.COMMIT_TX, Op.ABORT_TX)
@message
class TxnRequest(Message):
    txn_id: str = field(STR16)


@response(Op.BEGIN_TX, Op.COMMIT_TX, Op.ABORT_TX)
@message
class TxnResponse(Message):
    """``success`` is optional on decode: pyflymq-era servers may omit it."""

    txn_id: str = field(STR16, "")
    success: bool = field(Optional(BOOL, True), True)


@request(Op.PRODUCE_TX)
@message
class ProduceTxRequest(Message):
    txn_id: str = field(STR16)
    topic: str = field(STR16)
    data: bytes = field(BYTES32, b"")


@message
class TxnOffset(Message):
    topic: str = field(STR16)
    partition: int = field(I32)
    offset: int = field(I64)


@request(Op.TXN_OFFSET_COMMIT)
@message
class TxnOffsetCommitRequest(Message):
    """flymq extension 0xC8: consumer offsets committed with a transaction."""

    txn_id: str = field(STR16)
    group_id: str = field(STR16)
    offsets: list[TxnOffset] = field(List32(Nested(TxnOffset)), [])


response(Op.TXN_OFFSET_COMMIT)(AckResponse)



# --- authentication (0x70-0x72) ----------------------------------------------------------------------

@request(Op.AUTH)
@decode_error_prefix("invalid auth request: ")
@message
class AuthRequest(Message):
    username: str = field(STR16)
    password: str = field(STR16, "")


@response(Op.AUTH)
@message
class AuthResponse(Message):
    """Sent with opcode AUTH_RESPONSE (0x71); roles are **str8**."""

    success: bool = field(BOOL)
    username: str = field(STR16, "")
    roles: list[str] = field(List32(STR8), [])
    error: str = field(STR16, "")


@response(Op.WHOAMI)
@message
class WhoAmIResponse(Message):
    """pyflymq layout on encode; decode falls back to the Go server's AUTH layout (§9)."""

    authenticated: bool = field(BOOL, False)
    username: str = field(STR16, "")
    roles: list[str] = field(List32(STR16), [])
    permissions: list[str] = field(List32(STR16), [])

    @classmethod
    def decode(cls, payload: bytes) -> "WhoAmIResponse":
        mine = cls.decode_exact(payload)
        if mine is not None:
            return mine
        auth = AuthResponse.decode(payload)
        return cls(auth.success, auth.username, auth.roles, [])


# --- users, ACLs, roles (0x73-0x7D) ----------------------------------------------------------------

@request(Op.USER_CREATE, Op.USER_UPDATE, Op.PASSWORD_CHANGE)
@decode_error_prefix("invalid request: ")
@message
class UserRequest(Message):
    username: str = field(STR16)
    password: str = field(STR16, "")
    old_password: str = field(STR16, "")
    roles: list[str] = field(List32(STR16), [])
    enabled: bool = field(Optional(BOOL, False), True)


@response(Op.USER_CREATE, Op.USER_GET)
@message
class UserInfo(Message):
    username: str = field(STR16)
    roles: list[str] = field(List32(STR16), [])
    permissions: list[str] = field(List32(STR16), [])
    enabled: bool = field(BOOL, True)
    created_at: int = field(I64, 0)       # Unix seconds
    updated_at: int = field(I64, 0)


@request(Op.USER_DELETE, Op.USER_GET)
@decode_error_prefix("invalid request: ")
@message
class UsernameRequest(Message):
    username: str = field(STR16)


@response(Op.USER_LIST)
@message
class UserListResponse(Message):
    users: list[UserInfo] = field(List32(Nested(UserInfo)), [])


@request(Op.ACL_SET)
@decode_error_prefix("invalid request: ")
@message
class AclSetRequest(Message):
    topic: str = field(STR16)
    public: bool = field(BOOL, False)
    allowed_users: list[str] = field(List32(STR16), [])
    allowed_roles: list[str] = field(List32(STR16), [])


@response(Op.ACL_SET, Op.ACL_DELETE)
@message
class AclResult(Message):
    success: bool = field(BOOL, True)
    topic: str = field(STR16, "")


@response(Op.ACL_GET)
@message
class AclInfo(Message):
    topic: str = field(STR16)
    exists: bool = field(BOOL, False)
    public: bool = field(BOOL, False)
    default_public: bool = field(BOOL, False)
    allowed_users: list[str] = field(List32(STR16), [])
    allowed_roles: list[str] = field(List32(STR16), [])


@message
class AclListEntry(Message):
    topic: str = field(STR16)
    exists: bool = field(BOOL, True)
    public: bool = field(BOOL, False)
    allowed_users: list[str] = field(List32(STR16), [])
    allowed_roles: list[str] = field(List32(STR16), [])


@response(Op.ACL_LIST)
@message
class AclListResponse(Message):
    acls: list[AclListEntry] = field(List32(Nested(AclListEntry)), [])
    default_public: bool = field(BOOL, True)


@message
class RoleInfo(Message):
    name: str = field(STR16)
    permissions: list[str] = field(List32(STR16), [])
    description: str = field(STR16, "")


@response(Op.ROLE_LIST)
@message
class RoleListResponse(Message):
    roles: list[RoleInfo] = field(List32(Nested(RoleInfo)), [])


# --- audit, Go layout (0x80, 0x81) -----------------------------------------------------------------

@request(Op.AUDIT_QUERY)
@message(min_size=28)
class AuditQueryRequest(Message):
    start_time: int = field(I64, 0)       # Unix seconds, 0 = unbounded
    end_time: int = field(I64, 0)
    event_types: list[str] = field(List32(STR16), [])
    user: str = field(STR16, "")
    resource: str = field(STR16, "")
    result: str = field(STR16, "")
    search: str = field(STR16, "")
    limit: int = field(I32, 100)
    offset: int = field(I32, 0)


@message
class AuditEvent(Message):
    id: str = field(STR16)
    timestamp: int = field(I64, 0)        # ms
    event_type: str = field(STR16, "")
    user: str = field(STR16, "")
    client_ip: str = field(STR16, "")
    resource: str = field(STR16, "")
    action: str = field(STR16, "")
    result: str = field(STR16, "")
    node_id: str = field(STR16, "")
    details: dict[str, str] = field(Map32(), {})


@response(Op.AUDIT_QUERY)
@message
class AuditQueryResponse(Message):
    events: list[AuditEvent] = field(List32(Sized(AuditEvent)), [])
    total_count: int = field(I32, 0)
    has_more: bool = field(BOOL, False)


@request(Op.AUDIT_EXPORT)
@message
class AuditExportRequest(Message):
    query: AuditQueryRequest = field(Sized(AuditQueryRequest))
    format: str = field(STR16, "json")


@response(Op.AUDIT_EXPORT)
@message
class AuditExportResponse(Message):
    format: str = field(STR16, "json")
    data: bytes = field(BYTES32, b"")


# --- audit, SDK layout (0xA0, 0xA1) ----------------------------------------------------------------

@request(Op.AUDIT_QUERY_SDK)
@message
class AuditQuerySdkRequest(Message):
    start_time: int = field(I64, 0)
    end_time: int = field(I64, 0)
    event_types: list[str] = field(List16(STR16), [])
    user: str = field(STR16, "")
    resource: str = field(STR16, "")
    result: str = field(STR16, "")
    search: str = field(STR16, "")
    limit: int = field(U32, 100)
    offset: int = field(U32, 0)


@message
class AuditEventSdk(Message):
    id: str = field(STR16)
    timestamp: int = field(I64, 0)
    event_type: str = field(STR16, "")
    user: str = field(STR16, "")
    client_ip: str = field(STR16, "")
    resource: str = field(STR16, "")
    action: str = field(STR16, "")
    result: str = field(STR16, "")
    details: dict[str, str] = field(Map16(), {})
    node_id: str = field(STR16, "")


@response(Op.AUDIT_QUERY_SDK)
@message
class AuditQuerySdkResponse(Message):
    total_count: int = field(U32, 0)
    has_more: bool = field(BOOL, False)
    events: list[AuditEventSdk] = field(List32(Nested(AuditEventSdk)), [])


@request(Op.AUDIT_EXPORT_SDK)
@message
class AuditExportSdkRequest(Message):
    format: str = field(STR16, "json")
    start_time: int = field(I64, 0)
    end_time: int = field(I64, 0)
    event_types: list[str] = field(List16(STR16), [])
    user: str = field(STR16, "")
    resource: str = field(STR16, "")
    result: str = field(STR16, "")
    search: str = field(STR16, "")


@response(Op.AUDIT_EXPORT_SDK)
@message
class RawResponse(Message):
    """A reply that is the whole payload (0xA1: the exported document)."""

    data: bytes = field(REST, b"")
