"""The server refuses a bad group id in every opcode that carries one, with the text that
becomes InvalidGroupIdError (raw frames: the client's own check is not involved), and stores
nothing; an embedded broker refuses them too (issue 16, point 6)."""

from __future__ import annotations

import pytest

from flymq import protocol as p
from flymq.errors import InvalidGroupIdError, error_from_wire
from flymq.protocol import Op
from srvutil import RawClient, error_text

BAD = ["../x", "a\x00b", "g" * 60_000, "a#b"]


def requests(group_id: str) -> list[tuple[int, object]]:
    return [
        (Op.SUBSCRIBE, p.SubscribeRequest("t", group_id, 0, "earliest")),
        (Op.COMMIT, p.CommitRequest("t", group_id, 0, 1)),
        (Op.GET_OFFSET, p.GroupPartitionRequest("t", group_id, 0)),
        (Op.GET_LAG, p.GroupPartitionRequest("t", group_id, 0)),
        (Op.RESET_OFFSET, p.ResetOffsetRequest("t", group_id, 0, "offset", 2)),
        (Op.DESCRIBE_GROUP, p.GroupRequest("t", group_id)),
        (Op.DELETE_GROUP, p.GroupRequest("t", group_id)),
        (Op.GROUP_JOIN, p.GroupJoinRequest(group_id, "", "c", ["t"], ["range"])),
        (Op.GROUP_SYNC, p.GroupMemberRequest(group_id, "m", 1)),
        (Op.GROUP_HEARTBEAT, p.GroupMemberRequest(group_id, "m", 1)),
        (Op.GROUP_LEAVE, p.GroupMemberRequest(group_id, "m", 1)),
        (Op.GROUP_COMMIT, p.GroupCommitRequest(group_id, "", -1, [p.GroupOffset("t", 0, 1)])),
        (Op.GROUP_FETCH_OFFSETS, p.GroupIdRequest(group_id)),
        (Op.GROUP_DESCRIBE, p.GroupIdRequest(group_id)),
        (Op.GROUP_DELETE, p.GroupIdRequest(group_id)),
    ]


@pytest.fixture
def c(server, broker):
    broker.create_topic("t")
    with RawClient(server.address) as client:
        yield client


@pytest.mark.parametrize("group_id", BAD, ids=["dotdot", "nul", "long", "hash"])
def test_every_group_opcode_refuses_a_bad_id(c, broker, group_id):
    for op, request in requests(group_id):
        c.send(p.encode_frame(op, request.encode()))
        text = error_text(c.recv_frame())
        assert text.startswith("invalid group id "), (op, text)
        assert len(text) < 200   # the id is shown cut, not echoed whole
        assert isinstance(error_from_wire(text), InvalidGroupIdError)
    assert broker.list_groups() == [] and broker.list_consumer_groups() == []


def test_an_empty_group_id_is_only_subscribes(c):
    assert c.call(Op.SUBSCRIBE, p.SubscribeRequest("t", "", 0, "earliest")).offset == 0
    with pytest.raises(InvalidGroupIdError, match="empty"):
        c.call(Op.COMMIT, p.CommitRequest("t", "", 0, 1))
    with pytest.raises(InvalidGroupIdError, match="empty"):
        c.call(Op.GROUP_DELETE, p.GroupIdRequest(""))


def test_the_embedded_broker_refuses_them_too(broker):
    session = broker.open_session()
    for group_id in ["x\ud800", "../x", "a\x00b", "g" * 60_000, ""]:  # a surrogate, too
        with pytest.raises(InvalidGroupIdError):
            session.commit_offset("t", group_id, 0, 1)
        with pytest.raises(InvalidGroupIdError):
            session.join_group(group_id, topics=["t"])
    assert broker.list_groups() == []
