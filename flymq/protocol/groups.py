"""Codecs of the consumer extensions: group membership ``0xC9``-``0xD1`` and
``0xDA`` WAIT_RECORDS, a consumer's long-poll over all its partitions.

Kafka's classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
OffsetFetch, ListGroups, DescribeGroups, DeleteGroups) in FlyMQ framing; layouts in
docs/protocol-extensions.md. A group here is a ``group_id`` across topics.
"""

from __future__ import annotations

from typing import Any

from flymq.protocol.codec import I32, STR16, U64, List32, Message, Nested, field, message
from flymq.protocol.messages import JSON32, AckResponse, EmptyRequest, request, response
from flymq.protocol.opcodes import Op

__all__ = [
    "GroupJoinRequest", "GroupJoinResponse", "GroupMemberRequest", "GroupAssignmentResponse",
    "GroupTopicPartition", "GroupOffset", "GroupCommitRequest", "GroupIdRequest",
    "GroupOffsetsResponse", "GroupListResponse", "GroupDescribeResponse",
    "WaitPosition", "WaitRecordsRequest", "WaitRecordsResponse",
]

response(Op.GROUP_HEARTBEAT, Op.GROUP_LEAVE, Op.GROUP_COMMIT, Op.GROUP_DELETE)(AckResponse)
request(Op.GROUP_LIST)(EmptyRequest)


@request(Op.GROUP_JOIN)
@message
class GroupJoinRequest(Message):
    group_id: str = field(STR16)
    member_id: str = field(STR16, "")          # "" = a new member
    client_id: str = field(STR16, "")
    topics: list[str] = field(List32(STR16), [])        # names and MQTT-style patterns
    strategies: list[str] = field(List32(STR16), [])    # in order of preference
    session_timeout_ms: int = field(I32, 30_000)
    rebalance_timeout_ms: int = field(I32, 300_000)


@response(Op.GROUP_JOIN)
@message
class GroupJoinResponse(Message):
    member_id: str = field(STR16)
    generation: int = field(I32)               # -1: the rebalance waits for others
    protocol: str = field(STR16, "")
    leader: str = field(STR16, "")
    state: str = field(STR16, "")


@request(Op.GROUP_SYNC, Op.GROUP_HEARTBEAT, Op.GROUP_LEAVE)
@message
class GroupMemberRequest(Message):
    group_id: str = field(STR16)
    member_id: str = field(STR16)
    generation: int = field(I32, -1)           # ignored by GROUP_LEAVE


@message
class GroupTopicPartition(Message):
    topic: str = field(STR16)
    partition: int = field(I32)


@response(Op.GROUP_SYNC)
@message
class GroupAssignmentResponse(Message):
    partitions: list[GroupTopicPartition] = field(List32(Nested(GroupTopicPartition)), [])


@message
class GroupOffset(Message):
    topic: str = field(STR16)
    partition: int = field(I32)
    offset: int = field(U64)


@request(Op.GROUP_COMMIT)
@message
class GroupCommitRequest(Message):
    group_id: str = field(STR16)
    member_id: str = field(STR16, "")          # "" with generation -1: not a member
    generation: int = field(I32, -1)
    offsets: list[GroupOffset] = field(List32(Nested(GroupOffset)), [])


@request(Op.GROUP_FETCH_OFFSETS, Op.GROUP_DESCRIBE, Op.GROUP_DELETE)
@message
class GroupIdRequest(Message):
    group_id: str = field(STR16)


@response(Op.GROUP_FETCH_OFFSETS)
@message
class GroupOffsetsResponse(Message):
    offsets: list[GroupOffset] = field(List32(Nested(GroupOffset)), [])


@response(Op.GROUP_LIST)
@message
class GroupListResponse(Message):
    group_ids: list[str] = field(List32(STR16), [])


@response(Op.GROUP_DESCRIBE)
@message
class GroupDescribeResponse(Message):
    """The description as a JSON object (``Broker.describe_group``): an admin view whose
    fields will grow, so it travels as JSON like SERVER_INFO."""

    group: dict[str, Any] = field(JSON32, {})


@message
class WaitPosition(Message):
    topic: str = field(STR16)
    partition: int = field(I32)
    offset: int = field(U64)


@request(Op.WAIT_RECORDS)
@message
class WaitRecordsRequest(Message):
    max_wait_ms: int = field(I32)
    positions: list[WaitPosition] = field(List32(Nested(WaitPosition)), [])


@response(Op.WAIT_RECORDS)
@message
class WaitRecordsResponse(Message):
    ready: list[int] = field(List32(I32), [])   # indexes of positions with a record at/after
