"""The FlyMQ v1 opcode registrations (flymq/server/handlers.py): each opcode has its codec,
handler and flags in one place, and what the server answers follows from them."""

from __future__ import annotations

import ast

import pytest

from flymq import protocol as p
from flymq.broker.broker import Broker
from flymq.features import KNOWN, SERVED, not_supported
from flymq.protocol import Op
from flymq.server import Server, ServerConfig
from flymq.server.handlers import OPS
from flymq.server.ops import OpTable
from flymq.testing import PACKAGE_ROOT, start_server
from srvutil import RawClient, error_text, frame

SERVED_OPS = sorted(OPS.served(SERVED))


def test_every_served_opcode_has_a_codec_and_a_handler():
    assert SERVED_OPS
    for op in SERVED_OPS:
        reg = OPS[op]
        assert reg.op == op and callable(reg.handler), hex(op)
        assert callable(reg.request.decode), hex(op)
        assert reg.reply_op == p.reply_op(op)
        # the client encodes these requests with the protocol package's codec
        assert op in p.REQUESTS, hex(op)


def test_codecs_decode_what_the_client_encodes():
    batch = p.ProduceBatchRequest("t", [p.BatchRecord(b"k", b"v", 1)], 7, 0, 3)
    decoded = OPS[Op.PRODUCE_BATCH].request.decode(batch.encode())
    assert (decoded.topic, decoded.records, decoded.producer) == ("t", [(b"k", b"v", 1)],
                                                                  (7, 0, 3))
    for op in SERVED_OPS:
        if OPS[op].request is not p.REQUESTS[op]:
            assert op == Op.PRODUCE_BATCH, f"0x{op:02x} decodes with its own codec"


def test_disk_and_produce_flags():
    """Calls that may fsync run on a worker thread; appends hold their replies."""
    assert {op for op in SERVED_OPS if OPS[op].disk} == {
        Op.CREATE_TOPIC, Op.CREATE_TOPIC_EX, Op.DELETE_TOPIC, Op.COMMIT, Op.RESET_OFFSET,
        Op.DELETE_GROUP, Op.INIT_PRODUCER_ID} | {
        Op.REGISTER_SCHEMA, Op.DELETE_SCHEMA, Op.SCHEMA_COMPATIBILITY} | {
        Op.PRODUCE_WITH_TTL, Op.PRODUCE_DELAYED, Op.PRODUCE_DELAYED_EX, Op.CANCEL_DELAYED_EX,
        Op.REPLAY_DLQ, Op.PURGE_DLQ, Op.DEAD_LETTER} | {
        Op.GROUP_COMMIT, Op.GROUP_DELETE} | {Op.COMMIT_TX}
    assert {op for op in SERVED_OPS if OPS[op].produce} == {
        Op.PRODUCE, Op.PRODUCE_EX, Op.PRODUCE_BATCH} | {
        Op.PRODUCE_WITH_SCHEMA, Op.PRODUCE_WITH_SCHEMA_EX}


def test_features_of_registrations_are_known_names():
    names = {reg.feature for reg in OPS.values()} - {None}
    assert names - set(KNOWN) == {"audit"}   # audit is refused by opcode, never asked about


def test_an_opcode_registers_once_and_a_served_feature_needs_its_handlers():
    table = OpTable()
    table.later("schemas", Op.REGISTER_SCHEMA)
    with pytest.raises(ValueError, match="registered twice"):
        table.later("schemas", Op.REGISTER_SCHEMA)
    assert table.refusals(set()) == {Op.REGISTER_SCHEMA: not_supported("schemas").wire}
    assert table.served(set()) == {}
    with pytest.raises(ValueError, match="has no handler"):
        table.served({"schemas"})


def test_hello_lists_exactly_the_served_opcodes_and_features(server):
    with RawClient(server.address) as c:
        hello = c.call(Op.HELLO, p.HelloRequest("test", "1"))
    assert hello.ops == SERVED_OPS
    assert hello.features == sorted(SERVED)


REFUSED = sorted(OPS.refusals(SERVED).items())


@pytest.mark.parametrize("op, text", REFUSED, ids=[f"0x{op:02x}" for op, _ in REFUSED])
def test_every_unserved_opcode_is_refused_with_its_text(server, op, text):
    reg = OPS[op]
    expected = ("authentication is not enabled" if Op.USER_CREATE <= op <= Op.PASSWORD_CHANGE
                else f"{reg.feature} is not supported yet by this flymq server")
    assert text == expected
    with RawClient(server.address) as c:
        c.send(frame(op, b"\x00"))
        assert error_text(c.recv_frame()) == expected
        assert c.call(Op.LIST_TOPICS).topics == []       # the connection stays usable


def test_an_unserved_feature_refuses_its_opcodes_and_leaves_hello(tmp_path, monkeypatch,
                                                                  event_loop_name):
    """The served set decides: without "idempotence", INIT_PRODUCER_ID is refused."""
    monkeypatch.setattr(Broker, "features", frozenset())
    with Broker(tmp_path / "d") as broker, \
            start_server(broker, event_loop=event_loop_name) as server:
        with RawClient(server.address) as c:
            hello = c.call(Op.HELLO, p.HelloRequest("test", "1"))
            assert hello.features == [] and Op.INIT_PRODUCER_ID not in hello.ops
            c.send(frame(Op.INIT_PRODUCER_ID))
            assert error_text(c.recv_frame()) == \
                "idempotence is not supported yet by this flymq server"


def test_a_served_feature_without_handlers_stops_the_server_at_start(tmp_path, monkeypatch):
    monkeypatch.setattr(Broker, "features", SERVED | {"audit"})
    with Broker(tmp_path / "d") as broker:
        with pytest.raises(ValueError, match="'audit' is served but opcode 0x80 has no handler"):
            Server(broker, ServerConfig(port=0, event_loop="asyncio")).start_in_thread()


def test_the_broker_imports_nothing_of_the_server():
    for path in sorted((PACKAGE_ROOT / "flymq" / "broker").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.startswith("flymq.server")], path
