"""Group ids follow the topic-name rule (flymq/group_ids.py, docs/consumers.md): every call
that takes one refuses a bad id with InvalidGroupIdError, on both transports, and stores
nothing (issue 16, point 6). The broker's own check, without the client's, is in
tests/server/test_group_id_frames.py."""

from __future__ import annotations

import pytest

from flymq.errors import InvalidGroupIdError, InvalidRequestError

BAD = {
    "../x": "has a '..' level",
    "a\x00b": "contains control character U+0000",
    "x\ud800": "not valid UTF-8",            # a lone surrogate
    "g" * 60_000: "60000 bytes of UTF-8, more than 249",
    "a+b": "contains '+'",
    "": "empty",
}


def group_calls(client, group_id):
    """Every client call that takes a group id, with ``group_id``."""
    txn = client.begin_transaction()
    return {
        "commit_offset": lambda: client.commit_offset("t", group_id, 0, 1),
        "get_committed_offset": lambda: client.get_committed_offset("t", group_id, 0),
        "reset_offset": lambda: client.reset_offset("t", group_id, 0, "offset", 3),
        "get_lag": lambda: client.get_lag("t", group_id, 0),
        "describe_consumer_group": lambda: client.describe_consumer_group("t", group_id),
        "delete_consumer_group": lambda: client.delete_consumer_group("t", group_id),
        "join_group": lambda: client.join_group(group_id, topics=["t"]),
        "sync_group": lambda: client.sync_group(group_id, "m", 1),
        "heartbeat": lambda: client.heartbeat(group_id, "m", 1),
        "leave_group": lambda: client.leave_group(group_id, "m"),
        "commit_group_offsets": lambda: client.commit_group_offsets(group_id, [("t", 0, 1)]),
        "fetch_group_offsets": lambda: client.fetch_group_offsets(group_id),
        "describe_group": lambda: client.describe_group(group_id),
        "delete_group": lambda: client.delete_group(group_id),
        "consumer": lambda: client.consumer("t", group_id),
        "send_offsets_to_transaction": lambda: client.send_offsets_to_transaction(
            txn.txn_id, group_id, [("t", 0, 1)]),
    }


@pytest.mark.parametrize("group_id", list(BAD), ids=["dotdot", "nul", "surrogate", "long",
                                                     "plus", "empty"])
def test_every_call_refuses_a_bad_group_id(client, group_id):
    client.create_topic("t")
    for name, call in group_calls(client, group_id).items():
        with pytest.raises(InvalidGroupIdError, match="invalid group id") as info:
            call()
        assert BAD[group_id] in info.value.reason, name
        assert "topic-name rule" in info.value.hint
        assert isinstance(info.value, InvalidRequestError)
    if group_id:
        with pytest.raises(InvalidGroupIdError):
            client.subscribe("t", group_id, 0, "earliest")
    assert client.list_groups() == [] and client.list_consumer_groups() == []


def test_subscribe_without_a_group_and_good_ids(client):
    client.create_topic("t")
    client.produce("t", b"x")
    assert client.subscribe("t", "", 0, "earliest") == 0   # "" = no group bookkeeping
    for group_id in ("g", "team/orders-1", "é" * 124, "g" * 249, "a:b c"):
        client.commit_offset("t", group_id, 0, 1)
        assert client.get_committed_offset("t", group_id, 0) == 1
    assert len(client.list_groups()) == 5


def test_a_non_string_group_id(client):
    with pytest.raises(InvalidGroupIdError, match="not a string"):
        client.commit_offset("t", 5, 0, 1)
