"""A transaction over TCP: one PRODUCE_TX_BATCH (0xDC) carrying its begin, records and commit
where the server offers it, upstream's BEGIN_TX, PRODUCE_TX per record and COMMIT_TX where it
does not."""

from __future__ import annotations

import pytest

from flymq import FlyMQClient
from flymq import protocol as m
from flymq.protocol import Op, encode_frame
from flymq.txn_ids import is_client_txn_id

from .fake_server import FakeServer, e_text

TX_OPS = (Op.BEGIN_TX, Op.PRODUCE_TX, Op.COMMIT_TX, Op.PRODUCE_TX_BATCH)


def tx_server(seen: list) -> object:
    """Answers the transaction opcodes; ``seen`` gets each request as decoded."""
    def handle(op: int, payload: bytes, n: int) -> object:
        if op == Op.BEGIN_TX:
            return encode_frame(op, m.TxnResponse("tx-1", True).encode())
        if op == Op.PRODUCE_TX:
            req = m.ProduceTxRequest.decode(payload)
            seen.append(("produce", req.txn_id, req.topic, req.data))
            return encode_frame(op, m.RecordMetadataResponse(req.topic, 0, 0, 1, -1, 1).encode())
        if op == Op.COMMIT_TX:
            seen.append(("commit", m.TxnRequest.decode(payload).txn_id))
            return encode_frame(op, m.TxnResponse("tx-1", True).encode())
        if op == Op.PRODUCE_TX_BATCH:
            req = m.ProduceTxBatchRequest.decode(payload)
            seen.append(("batch", [(r.topic, r.value) for r in req.records], req.commit,
                         req.begin))
            return encode_frame(op, m.AckResponse().encode())
        return e_text(f"unknown opcode: {op}")
    return handle


@pytest.mark.parametrize("flymq", [True, False], ids=["flymq", "upstream"])
def test_a_transaction_is_one_batch_or_upstreams_calls(servers, flymq: bool) -> None:
    seen: list = []
    srv = FakeServer(tx_server(seen), flymq=flymq, ops=(Op.PRODUCE_TX_BATCH,))
    servers.append(srv)
    client = FlyMQClient(srv.address)
    try:
        with client.transaction() as txn:
            txn.produce("a", b"1")
            txn.produce("b", "2")
        assert not txn.active
        with client.transaction() as empty:     # nothing to send: no call at all
            pass
    finally:
        client.close()
    ops = [op for op in srv.ops_of(1) if op in TX_OPS]
    if flymq:
        assert ops == [Op.PRODUCE_TX_BATCH]
        assert seen == [("batch", [("a", b"1"), ("b", b"2")], True, True)]
        assert is_client_txn_id(txn.txn_id) and empty.txn_id != txn.txn_id
    else:
        assert ops == [Op.BEGIN_TX, Op.PRODUCE_TX, Op.PRODUCE_TX, Op.COMMIT_TX, Op.BEGIN_TX,
                       Op.COMMIT_TX]
        assert seen == [("produce", "tx-1", "a", b"1"), ("produce", "tx-1", "b", b"2"),
                        ("commit", "tx-1"), ("commit", "tx-1")]
