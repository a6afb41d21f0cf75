"""Producers honour compression_type: lz4 compresses stored batches (embedded), gzip
compresses PRODUCE_BATCH frames (TCP)."""

from __future__ import annotations

from flymq import FlyMQClient
from flymq.broker.broker import Broker


def test_lz4_compresses_stored_batches_embedded(tmp_path):
    from flymq.broker.storage.batch import CODEC_LZ4, CODEC_MASK, HEADER

    with Broker(tmp_path) as broker:
        broker.create_topic("t", 1)
        producer = broker.client().producer(compression_type="lz4")
        assert producer.send("t", b"x" * 1000).get() == 0
        segment = next((tmp_path / "topics").rglob("*.log"))
        attributes = HEADER.unpack_from(segment.read_bytes())[4]
        assert attributes & CODEC_MASK == CODEC_LZ4
        assert broker.fetch("t", 0, 0).messages[0].data == b"x" * 1000


def test_gzip_compresses_batch_frames_over_tcp(flymq_server, monkeypatch):
    import flymq.protocol

    gzipped = []
    real = flymq.protocol.gzip_payload
    monkeypatch.setattr(flymq.protocol, "gzip_payload",
                        lambda payload: gzipped.append(len(payload)) or real(payload))
    c = FlyMQClient(flymq_server)
    try:
        producer = c.producer(compression_type="gzip")
        assert producer.send("t", b"y" * 1000).get() == 0
        assert gzipped and c.fetch("t", 0, 0).messages[0].data == b"y" * 1000
    finally:
        c.close()
