"""The consumer opcodes: group membership (``0xC9``-``0xD1``) and WAIT_RECORDS (``0xDA``),
docs/protocol-extensions.md.

Each handler maps one request to one call of the connection's session, which owns the members
it joins (closing the connection is their clean leave); the coordinator is
:mod:`flymq.broker.groups`. Registered on import by :mod:`flymq.server.handlers`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flymq import protocol as m
from flymq.protocol import Op
from flymq.server.handlers import op
from flymq.server.record_wait import ready_positions, record_wait

if TYPE_CHECKING:
    from flymq.server.connection import Connection
    from flymq.server.flymq_v1 import FlyMQv1

FEATURE = "groups"


@op(Op.GROUP_JOIN, m.GroupJoinRequest, feature=FEATURE)
def _join(d: "FlyMQv1", conn: "Connection", req: m.GroupJoinRequest) -> Any:
    session = conn.session
    joined = session.join_group(
        req.group_id, req.member_id, client_id=req.client_id or session.client_id,
        host=session.client_id.rpartition(":")[0], topics=req.topics,
        strategies=req.strategies, session_timeout_ms=req.session_timeout_ms,
        rebalance_timeout_ms=req.rebalance_timeout_ms)
    return m.GroupJoinResponse(*joined)


@op(Op.GROUP_SYNC, m.GroupMemberRequest, feature=FEATURE)
def _sync(d: "FlyMQv1", conn: "Connection", req: m.GroupMemberRequest) -> Any:
    assigned = conn.session.sync_group(req.group_id, req.member_id, req.generation)
    return m.GroupAssignmentResponse([m.GroupTopicPartition(t, p) for t, p in assigned])


@op(Op.GROUP_HEARTBEAT, m.GroupMemberRequest, feature=FEATURE)
def _heartbeat(d: "FlyMQv1", conn: "Connection", req: m.GroupMemberRequest) -> Any:
    conn.session.heartbeat(req.group_id, req.member_id, req.generation)
    return m.AckResponse()


@op(Op.GROUP_LEAVE, m.GroupMemberRequest, feature=FEATURE)
def _leave(d: "FlyMQv1", conn: "Connection", req: m.GroupMemberRequest) -> Any:
    conn.session.leave_group(req.group_id, req.member_id)
    return m.AckResponse()


@op(Op.GROUP_COMMIT, m.GroupCommitRequest, disk=True, feature=FEATURE)
def _commit(d: "FlyMQv1", conn: "Connection", req: m.GroupCommitRequest) -> Any:
    conn.session.commit_group_offsets(req.group_id,
                                      [(o.topic, o.partition, o.offset) for o in req.offsets],
                                      member_id=req.member_id, generation=req.generation)
    return m.AckResponse()


@op(Op.GROUP_FETCH_OFFSETS, m.GroupIdRequest, feature=FEATURE)
def _fetch_offsets(d: "FlyMQv1", conn: "Connection", req: m.GroupIdRequest) -> Any:
    offsets = conn.session.fetch_group_offsets(req.group_id)
    return m.GroupOffsetsResponse([m.GroupOffset(t, p, o)
                                   for (t, p), o in sorted(offsets.items())])


@op(Op.GROUP_LIST, m.EmptyRequest, feature=FEATURE)
def _list(d: "FlyMQv1", conn: "Connection", req: Any) -> Any:
    return m.GroupListResponse(conn.session.list_groups())


@op(Op.GROUP_DESCRIBE, m.GroupIdRequest, feature=FEATURE)
def _describe(d: "FlyMQv1", conn: "Connection", req: m.GroupIdRequest) -> Any:
    return m.GroupDescribeResponse(conn.session.describe_group(req.group_id))


@op(Op.GROUP_DELETE, m.GroupIdRequest, disk=True, feature=FEATURE)
def _delete(d: "FlyMQv1", conn: "Connection", req: m.GroupIdRequest) -> Any:
    conn.session.delete_group(req.group_id)
    return m.AckResponse()


@op(Op.WAIT_RECORDS, m.WaitRecordsRequest)
def _wait_records(d: "FlyMQv1", conn: "Connection", req: m.WaitRecordsRequest) -> Any:
    ready = ready_positions(conn.session, req)
    if ready or req.max_wait_ms <= 0 or not req.positions:
        return m.WaitRecordsResponse(ready)
    return record_wait(d, conn.session, req)
