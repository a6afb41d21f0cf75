"""Idempotent producer: a retry never appends a batch the broker already acknowledged."""

from __future__ import annotations

from collections import Counter

from flymq.broker.appends import AppendRequest
import pytest

from flymq import FlyMQClient, ProducerConfig
from flymq.broker.broker import Broker
from flymq.client.producer import Producer
from flymq.errors import ConnectionClosedError, OutOfOrderSequenceError
from flymq.testing import ServeProcess

from .conftest import read_all


class ReplyLost:
    """Wraps a transport: the first ``lose`` requests reach the broker, then the reply is lost
    (as when a connection drops after the broker appended)."""

    def __init__(self, inner, lose: int):
        self.inner, self.lose, self.calls = inner, lose, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def append_batch(self, topic, records, **options):
        self.calls += 1
        result = self.inner.append_batch(topic, records, **options)
        if self.calls <= self.lose:
            raise ConnectionClosedError()
        return result

    def close(self) -> None:
        pass


@pytest.mark.parametrize("linger_ms", [0, 60000])
def test_retry_after_a_lost_reply_does_not_duplicate(client, linger_ms):
    client.create_topic("t", 3)
    wrapper = ReplyLost(client._transport, lose=2)
    c = FlyMQClient(transport=wrapper)
    producer = Producer(c, "t", config=ProducerConfig(linger_ms=linger_ms, retries=3,
                                                      retry_backoff_ms=1))
    results = [producer.send(b"%d" % i) for i in range(6)]
    producer.flush()
    stored = [v for p in range(3) for v in read_all(client, "t", p)]
    assert sorted(stored) == sorted(b"%d" % i for i in range(6))     # each exactly once
    assert wrapper.calls > 2 and producer.metrics["retried"] >= 2
    if linger_ms == 0:                      # the retry was answered with the first offsets
        offsets = [(r.partition, r.offset) for r in results]
        assert len(set(offsets)) == 6
        for (partition, offset), i in zip(offsets, range(6)):
            assert read_all(client, "t", partition)[offset] == b"%d" % i


def test_broker_answers_a_retry_with_the_original_offsets_across_restarts(tmp_path):
    records = [(None, b"a", 0), (None, b"b", 0)]

    def append(broker, sequence):
        return broker.append(AppendRequest("t", records, producer=(producer_id, epoch, sequence)))

    with Broker(tmp_path) as broker:
        producer_id, epoch = broker.init_producer_id()
        first = append(broker, 0).placements
        assert append(broker, 0).placements == first
        with pytest.raises(OutOfOrderSequenceError) as info:
            append(broker, 5)
        assert info.value.expected == 2 and info.value.hint
    with Broker(tmp_path) as broker:          # the state comes back from the log tail
        assert append(broker, 0).placements == first
        assert append(broker, 2).placements == \
            [(0, 2), (0, 3)]
        assert broker.offsets("t", 0) == (0, 4)
        assert broker.init_producer_id()[0] > producer_id    # ids are never reused


def test_idempotent_batch_must_name_one_partition(tmp_path):
    with Broker(tmp_path) as broker:
        broker.create_topic("t", 2)
        with pytest.raises(Exception, match="every record must name the same partition"):
            broker.append(AppendRequest("t", [(None, b"a", 0), (None, b"b", 1)],
                                        producer=(1, 0, 0)))


def test_out_of_order_sequence_crosses_tcp_as_its_class(flymq_server):
    c = FlyMQClient(flymq_server)
    try:
        producer_id, epoch = c.init_producer_id()
        c.append_batch("t", [(None, b"a", 0)], producer=(producer_id, epoch, 0))
        with pytest.raises(OutOfOrderSequenceError):
            c.append_batch("t", [(None, b"b", 0)], producer=(producer_id, epoch, 9))
    finally:
        c.close()


class CrashAfterApply(ReplyLost):
    """The server is killed (SIGKILL) right after it appended requests ``crash_at`` and is
    started again: their replies are lost, and their retries meet a broker that rebuilt its
    producer state from the log."""

    def __init__(self, inner, crash_at: set[int], crash):
        super().__init__(inner, lose=0)
        self.crash_at, self.crash = crash_at, crash

    def append_batch(self, topic, records, **options):
        self.calls += 1
        result = self.inner.append_batch(topic, records, **options)
        if self.calls in self.crash_at:
            self.crash()
            raise ConnectionClosedError()
        return result


def test_server_killed_and_restarted_mid_run_keeps_every_message_once(tmp_path):
    data = str(tmp_path / "data")
    servers = [ServeProcess("--port", "0", "--data-dir", data, "--fsync", "never")]
    port = str(servers[0].address[1])

    def crash() -> None:
        servers[-1].kill()
        servers[-1].close()
        servers.append(ServeProcess("--port", port, "--data-dir", data, "--fsync", "never"))

    client = FlyMQClient(servers[0].bootstrap, max_retries=40, retry_delay_ms=25)
    try:
        client.create_topic("t", 2)
        wrapper = CrashAfterApply(client._transport, {5, 40, 41, 90}, crash)
        producer = Producer(FlyMQClient(transport=wrapper), "t",
                            config=ProducerConfig(linger_ms=0, retries=30, retry_backoff_ms=5))
        total = 300                                       # one request per send
        for i in range(total):
            producer.send(b"m%d" % i)
        producer.close(timeout_ms=60000)
        values = [v for p in range(2) for v in read_all(client, "t", p)]
    finally:
        client.close()
        servers[-1].terminate()
        servers[-1].close()
    counts = Counter(values)
    assert len(servers) >= 4                              # the server crashed 3+ times
    assert len(values) == total and set(counts.values()) == {1}, \
        (len(values), [v for v, n in counts.items() if n > 1][:5])

