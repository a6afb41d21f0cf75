"""Consumer-group opcodes and CLUSTER_METADATA as pyflymq sends and parses them."""

from __future__ import annotations

import struct

import pytest

from .sdkwire import (commit_req, create_topic_req, group_partition_req, group_req, produce_req,
                      py_cluster_metadata, py_describe_group, py_lag, py_list_groups, py_u64,
                      reset_offset_req, s16, subscribe_req)

PRODUCE, CREATE, SUBSCRIBE, COMMIT = 0x01, 0x03, 0x05, 0x06
META, GET_OFFSET, RESET, LIST_GROUPS, DESCRIBE, LAG, DELETE_GROUP = (
    0x53, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65)


@pytest.fixture
def topic(py) -> str:
    py.request(CREATE, create_topic_req("g", 2))
    for i in range(3):
        py.request(PRODUCE, produce_req("g", b"%d" % i, partition=0))
    return "g"


def test_subscribe_example_bytes(py, topic):
    """§6.1.5 example frame, mode as str8."""
    req = bytes.fromhex("0001 67 0002 6731 00000000 08 6561726c69657374".replace(" ", ""))
    assert req == subscribe_req("g", "g1", 0, "earliest")
    assert py.request(SUBSCRIBE, req) == struct.pack(">Q", 0)


@pytest.mark.parametrize("mode,expected", [("earliest", 0), ("latest", 3), ("", 3),
                                           ("commit", 0)])
def test_subscribe_modes(py, topic, mode, expected):
    assert py_u64(py.request(SUBSCRIBE, subscribe_req(topic, "grp", 0, mode))) == expected


def test_subscribe_commit_mode_returns_committed_and_errors(py, topic):
    assert py.request(COMMIT, commit_req(topic, "grp", 0, 2)) == b"\x01"
    assert py_u64(py.request(SUBSCRIBE, subscribe_req(topic, "grp", 0, "commit"))) == 2
    # empty group id: no bookkeeping, still answers
    assert py_u64(py.request(SUBSCRIBE, subscribe_req(topic, "", 1, "latest"))) == 0
    assert py.error(SUBSCRIBE, subscribe_req(topic, "grp", 0, "bogus")) == \
        "unknown subscribe mode: bogus"
    assert py.error(SUBSCRIBE, subscribe_req("nope", "grp", 0, "earliest")) == \
        "topic not found: nope"
    assert py.error(SUBSCRIBE, subscribe_req(topic, "grp", 2, "earliest")) == \
        "partition 2 not found"
    assert py.error(SUBSCRIBE, subscribe_req(topic, "grp", -1, "earliest")) == \
        "partition -1 not found"


def test_commit_get_offset(py, topic):
    assert py.error(GET_OFFSET, group_partition_req(topic, "cg", 0)) == \
        "consumer group not found: g:cg"
    assert py.request(COMMIT, commit_req(topic, "cg", 1, 7)) == b"\x01"
    assert py_u64(py.request(GET_OFFSET, group_partition_req(topic, "cg", 1))) == 7
    assert py_u64(py.request(GET_OFFSET, group_partition_req(topic, "cg", 0))) == 0
    # COMMIT needs no topic and accepts any value
    assert py.request(COMMIT, commit_req("no-such-topic", "cg", 0, 99)) == b"\x01"
    assert py_u64(py.request(GET_OFFSET, group_partition_req("no-such-topic", "cg", 0))) == 99


@pytest.mark.parametrize("always_offset", [False, True], ids=["pyflymq-go", "java-trailing"])
def test_reset_offset_all_modes(py, topic, always_offset):
    def reset(mode: str, offset: int = 0) -> bytes:
        return py.request(RESET, reset_offset_req(topic, "rg", 0, mode, offset,
                                                  always_offset=always_offset))

    def committed() -> int:
        return py_u64(py.request(GET_OFFSET, group_partition_req(topic, "rg", 0)))

    assert reset("latest", 1) == b"\x01" and committed() == 3       # trailing bytes ignored
    assert reset("earliest", 2) == b"\x01" and committed() == 0
    assert reset("offset", 2) == b"\x01" and committed() == 2
    if not always_offset:  # mode "offset" without its u64 (no SDK sends it): flymq commits 0
        assert py.request(RESET, reset_offset_req(topic, "rg", 0, "offset")[:-8]) == b"\x01"
        assert committed() == 0
    assert py.error(RESET, reset_offset_req(topic, "rg", 0, "middle", 1,
                                            always_offset=always_offset)) == \
        "unknown reset mode: middle"
    assert py.error(RESET, reset_offset_req("nope", "rg", 0, "earliest",
                                            always_offset=always_offset)) == \
        "topic not found: nope"
    assert py.error(RESET, reset_offset_req(topic, "rg", 5, "latest",
                                            always_offset=always_offset)) == \
        "partition 5 not found"


def test_get_lag(py, topic):
    py.request(COMMIT, commit_req(topic, "lg", 0, 1))
    assert py_lag(py.request(LAG, group_partition_req(topic, "lg", 0))) == {
        "current_offset": 1, "committed_offset": 1, "latest_offset": 3, "lag": 2}
    # empty partition, nothing committed: flymq uses LEO 0 (spec D13 deviation)
    assert py_lag(py.request(LAG, group_partition_req(topic, "lg", 1))) == {
        "current_offset": 0, "committed_offset": 0, "latest_offset": 0, "lag": 0}
    py.request(COMMIT, commit_req(topic, "lg", 0, 10))
    assert py_lag(py.request(LAG, group_partition_req(topic, "lg", 0)))["lag"] == 0
    assert py.error(LAG, group_partition_req(topic, "unknown", 0)) == \
        "consumer group not found: g:unknown"
    assert py.error(LAG, group_partition_req(topic, "lg", 9)) == "partition 9 not found"


def test_list_describe_delete_groups(py, topic):
    assert py_list_groups(py.request(LIST_GROUPS)) == []
    py.request(COMMIT, commit_req(topic, "b", 1, 5))
    py.request(COMMIT, commit_req(topic, "b", 0, 4))
    py.request(COMMIT, commit_req(topic, "a", 0, 1))
    py.request(SUBSCRIBE, subscribe_req(topic, "a", 0, "earliest"))       # one member
    groups = py_list_groups(py.request(LIST_GROUPS))
    assert [(g["topic"], g["group_id"]) for g in groups] == [("g", "a"), ("g", "b")]
    assert groups[0]["members"] == 1 and groups[1]["members"] == 0
    assert groups[1]["offsets"] == [{"partition": 0, "offset": 4}, {"partition": 1, "offset": 5}]
    # pyflymq's list_consumer_groups(topic) ignores the argument and sends nothing
    assert py_list_groups(py.request(LIST_GROUPS, b"")) == groups

    d = py_describe_group(py.request(DESCRIBE, group_req(topic, "b")))
    assert d == groups[1]
    assert py.error(DESCRIBE, group_req(topic, "zzz")) == "consumer group not found: g:zzz"
    assert py.request(DELETE_GROUP, group_req(topic, "b")) == b"\x01"
    assert py.error(DESCRIBE, group_req(topic, "b")) == "consumer group not found: g:b"
    assert py.error(DELETE_GROUP, group_req(topic, "b")) == "consumer group not found: g:b"
    assert [g["group_id"] for g in py_list_groups(py.request(LIST_GROUPS))] == ["a"]


def test_cluster_metadata_one_topic_and_all(py, topic, flymq_server):
    py.request(CREATE, create_topic_req("h", 1))
    cid, topics = py_cluster_metadata(py.request(META, s16(topic)))
    assert cid == "standalone" and list(topics) == ["g"]
    parts = topics["g"]
    assert [p.partition for p in parts] == [0, 1]
    for p in parts:
        assert p.epoch == 1 and p.state == "online" and p.leader_id
        assert p.replicas == [p.leader_id] and p.isr == [p.leader_id]
        host, _, port = p.leader_addr.rpartition(":")
        assert host and port.isdigit()          # "host:port", usable by a redirecting SDK
    assert parts[0].leader_addr == flymq_server
    _, every = py_cluster_metadata(py.request(META, s16("")))              # empty = all
    assert {"g", "h"} <= set(every) and len(every["h"]) == 1
    _, also = py_cluster_metadata(py.request(META, b""))                   # empty payload too
    assert set(also) == set(every)
    assert py.error(META, s16("missing")) == "topic not found: missing"


def test_cluster_metadata_all_includes_internal_topics(py):
    """spec §6.6.4: every topic is listed (no '__' filtering, unlike LIST_TOPICS)."""
    py.request(CREATE, create_topic_req("__internal", 1))
    _, every = py_cluster_metadata(py.request(META, s16("")))
    assert "__internal" in every
