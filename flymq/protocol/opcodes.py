"""Operation codes of FlyMQ protocol v1 (wire-protocol.md §1.2) and flymq's extensions.

Values ``0xC0``-``0xEF`` are flymq extensions (docs/protocol-extensions.md); a server
announces which of them it serves in its HELLO reply, and an upstream server answers them
with ``unknown opcode: <n>``.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Op", "EXTENSION_OPS", "reply_op"]


class Op(IntEnum):
    # core
    PRODUCE = 0x01
    CONSUME = 0x02
    CREATE_TOPIC = 0x03
    METADATA = 0x04
    SUBSCRIBE = 0x05
    COMMIT = 0x06
    FETCH = 0x07
    LIST_TOPICS = 0x08
    DELETE_TOPIC = 0x09
    CONSUME_ZERO_COPY = 0x0A
    FETCH_BINARY = 0x0B
    # schema registry
    REGISTER_SCHEMA = 0x10
    GET_SCHEMA = 0x11
    LIST_SCHEMAS = 0x12
    VALIDATE_SCHEMA = 0x13
    PRODUCE_WITH_SCHEMA = 0x14
    DELETE_SCHEMA = 0x15
    # dead-letter queue
    FETCH_DLQ = 0x20
    REPLAY_DLQ = 0x21
    PURGE_DLQ = 0x22
    # delayed / TTL
    PRODUCE_DELAYED = 0x30
    CANCEL_DELAYED = 0x31
    PRODUCE_WITH_TTL = 0x35
    # transactions
    BEGIN_TX = 0x40
    COMMIT_TX = 0x41
    ABORT_TX = 0x42
    PRODUCE_TX = 0x43
    # cluster
    CLUSTER_JOIN = 0x50
    CLUSTER_LEAVE = 0x51
    CLUSTER_STATUS = 0x52
    CLUSTER_METADATA = 0x53
    # consumer groups
    GET_OFFSET = 0x60
    RESET_OFFSET = 0x61
    LIST_GROUPS = 0x62
    DESCRIBE_GROUP = 0x63
    GET_LAG = 0x64
    DELETE_GROUP = 0x65
    SEEK_TO_TIMESTAMP = 0x66
    # authentication, users, ACLs
    AUTH = 0x70
    AUTH_RESPONSE = 0x71
    WHOAMI = 0x72
    USER_CREATE = 0x73
    USER_DELETE = 0x74
    USER_UPDATE = 0x75
    USER_LIST = 0x76
    USER_GET = 0x77
    ACL_SET = 0x78
    ACL_GET = 0x79
    ACL_DELETE = 0x7A
    ACL_LIST = 0x7B
    PASSWORD_CHANGE = 0x7C
    ROLE_LIST = 0x7D
    # audit: Go layout, then the SDK layout
    AUDIT_QUERY = 0x80
    AUDIT_EXPORT = 0x81
    AUDIT_QUERY_SDK = 0xA0
    AUDIT_EXPORT_SDK = 0xA1
    # flymq extensions
    HELLO = 0xC0
    PRODUCE_BATCH = 0xC1
    FETCH_EX = 0xC2
    SERVER_INFO = 0xC3
    PRODUCE_EX = 0xC4
    LIST_OFFSETS = 0xC5
    CREATE_TOPIC_EX = 0xC6
    INIT_PRODUCER_ID = 0xC7
    TXN_OFFSET_COMMIT = 0xC8

    # consumer-group membership (docs/protocol-extensions.md)
    GROUP_JOIN = 0xC9
    GROUP_SYNC = 0xCA
    GROUP_HEARTBEAT = 0xCB
    GROUP_LEAVE = 0xCC
    GROUP_COMMIT = 0xCD
    GROUP_FETCH_OFFSETS = 0xCE
    GROUP_LIST = 0xCF
    GROUP_DESCRIBE = 0xD0
    GROUP_DELETE = 0xD1
    WAIT_RECORDS = 0xDA             # a consumer's long-poll over all its partitions

    # schema registry (docs/protocol-extensions.md)
    SCHEMA_DESCRIBE = 0xD2
    SCHEMA_COMPATIBILITY = 0xD3
    PRODUCE_WITH_SCHEMA_EX = 0xD4

    # delayed delivery and dead-letter queues (docs/protocol-extensions.md)
    PRODUCE_DELAYED_EX = 0xD5
    CANCEL_DELAYED_EX = 0xD6
    LIST_DELAYED = 0xD7
    FETCH_DLQ_EX = 0xD8
    DEAD_LETTER = 0xD9

    # admin (docs/protocol-extensions.md)
    DESCRIBE_TOPIC = 0xDB           # partitions with offsets and stored bytes, config

    # transactions (docs/protocol-extensions.md; 0xC8 above)
    PRODUCE_TX_BATCH = 0xDC         # a transaction's records, and its commit, in one frame

    ERROR = 0xFF

    # upstream spellings (aliases)
    TXN_BEGIN = 0x40
    TXN_COMMIT = 0x41
    TXN_ROLLBACK = 0x42
    TXN_PRODUCE = 0x43
    GET_DLQ_MESSAGES = 0x20
    VALIDATE_MESSAGE = 0x13


EXTENSION_OPS: frozenset[Op] = frozenset(op for op in Op if 0xC0 <= op <= 0xEF)


def reply_op(op: int) -> int:
    """The opcode of a successful reply: the request's, except AUTH -> AUTH_RESPONSE."""
    return Op.AUTH_RESPONSE if op == Op.AUTH else op
