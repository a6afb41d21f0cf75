"""Random and mutated frames never crash the server or disturb other connections."""

from __future__ import annotations

import socket

from hypothesis import HealthCheck, given, settings, strategies as st

from flymq import protocol as p
from flymq.broker.broker import Broker
from flymq.broker.config import BrokerConfig
from flymq.protocol import Op
from flymq.testing import start_server
from srvutil import RawClient, frame

VALID = [
    frame(Op.PRODUCE, p.ProduceRequest("fz", b"k", b"value", -1).encode()),
    frame(Op.FETCH, p.FetchRequest("fz", 0, 0, 5, "").encode()),
    frame(Op.CONSUME, p.ConsumeRequest("fz", 0, 0).encode()),
    frame(Op.SUBSCRIBE, p.SubscribeRequest("fz", "g", 0, "earliest").encode()),
    frame(Op.COMMIT, p.CommitRequest("fz", "g", 0, 1).encode()),
    frame(Op.FETCH_EX, p.FetchExRequest("fz", 0, 0, 5, 0, 50).encode()),
    frame(Op.PRODUCE_BATCH, p.ProduceBatchRequest("fz", [p.BatchRecord(b"", b"v", -1)]).encode()),
    frame(Op.CLUSTER_METADATA, p.ClusterMetadataRequest("").encode()),
    frame(Op.RESET_OFFSET, p.ResetOffsetRequest("fz", "g", 0, "offset", 0).encode()),
]
OPS = st.one_of(st.sampled_from([int(op) for op in Op]), st.integers(0, 255))


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(VALID), min_size=1, max_size=4))))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[i:i] = draw(st.binary(max_size=8))
        elif kind == "delete":
            del data[i:i + draw(st.integers(1, 8))]
        else:
            del data[i:]
    return bytes(data)


@st.composite
def headed(draw) -> bytes:
    """A correct header with any opcode and flags over random bytes."""
    payload = draw(st.binary(max_size=64))
    flags = draw(st.sampled_from([0, 1, 3, 5, draw(st.integers(0, 255))]))
    return frame(draw(OPS), payload, flags)


STREAMS = st.one_of(st.binary(max_size=200), headed(), mutated(),
                    st.lists(headed(), max_size=5).map(b"".join))


def _read_replies(sock: socket.socket) -> bytes:
    data = bytearray()
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return bytes(data)


def _check_replies(data: bytes) -> None:
    pos = 0
    while pos < len(data):
        magic, version, op, flags, length = p.HEADER.unpack_from(data, pos)
        assert (magic, version, flags) == (p.MAGIC, p.VERSION, p.FLAG_BINARY)
        payload = data[pos + 8:pos + 8 + length]
        assert len(payload) == length
        if op == Op.ERROR:
            assert p.ErrorResponse.decode(payload).message
        pos += 8 + length


def test_fuzzed_streams_never_hurt_the_server(tmp_path, caplog, event_loop_name):
    with Broker(tmp_path / "d", BrokerConfig(max_partitions_per_topic=8)) as broker, \
            start_server(broker, event_loop=event_loop_name) as server:
        with RawClient(server.address) as bystander:
            bystander.call(Op.CREATE_TOPIC, p.CreateTopicRequest("steady", 1))
            produced = 0

            @settings(max_examples=200, deadline=None,
                      suppress_health_check=list(HealthCheck))
            @given(STREAMS)
            def run(stream: bytes) -> None:
                nonlocal produced
                with socket.create_connection(server.address, timeout=5) as s:
                    s.sendall(stream)
                    s.shutdown(socket.SHUT_WR)       # the server answers, then closes
                    _check_replies(_read_replies(s))
                rm = bystander.call(Op.PRODUCE, p.ProduceRequest("steady", b"", b"ok", 0))
                assert rm.offset == produced
                produced += 1

            run()
            got = bystander.call(Op.FETCH, p.FetchRequest("steady", 0, 0, 1000))
            assert len(got.records) == produced
        crashes = [r for r in caplog.records if r.levelname == "ERROR"]
        assert not crashes, crashes[0].getMessage() + (crashes[0].exc_text or "")
