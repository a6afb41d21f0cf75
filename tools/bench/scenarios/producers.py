"""Producers (issue 5): flymq's batching producers, 100 B, one connection, next to the peers'
own batched produce (Redis pipelined XADD, NATS JetStream async publish).

``Producer(client, topic, config=ProducerConfig(linger_ms=5))`` and
``client.producer(linger_ms=5)`` send one message per ``send`` call and batch underneath,
embedded and over TCP; the peers send pipelines of 1,000. Every run reads its messages back
and checks them before any figure is reported.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tools.bench.flymq_target import (checksum_chunks, flymq_server, need, open_broker,
                                      read_all, tcp_client)
from tools.bench.peers.nats_jetstream import nats_server
from tools.bench.peers.redis_streams import redis_server
from tools.bench.procs import TempDir, Unavailable
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat, Target
from tools.bench.scenarios.b1_matrix import Test, rates, run_test
from tools.bench.stats import throughput
from tools.bench.verify import Checksum, expect_same, make_payloads

SIZE = 100
MESSAGES = 200_000
LINGER_MS = 5
PEER_BATCH = 1_000
TARGETS = {"TCP": Target("msgs/s", ">=", 200_000, "issue 5"),
           "embedded": Target("msgs/s", ">=", 400_000, "issue 5")}
_topics = itertools.count()


def _send_with_producer(client: Any, topic: str, payloads: list[bytes]) -> None:
    producer_cls, config_cls = need("flymq", "Producer"), need("flymq", "ProducerConfig")
    producer = producer_cls(client, topic, config=config_cls(linger_ms=LINGER_MS))
    send = producer.send
    for payload in payloads:
        send(payload)
    producer.close()  # flushes: every message acknowledged


def _send_with_high_level(client: Any, topic: str, payloads: list[bytes]) -> None:
    producer = client.producer(linger_ms=LINGER_MS)
    send = producer.send
    for payload in payloads:
        send(topic, payload)
    producer.close()


PRODUCERS: dict[str, Callable[[Any, str, list[bytes]], None]] = {
    f"Producer(linger_ms={LINGER_MS})": _send_with_producer,
    f"client.producer(linger_ms={LINGER_MS})": _send_with_high_level,
}


@contextmanager
def _flymq_clients(ctx: Context, fsync: str, transport: str) -> Iterator[Callable[[], Any]]:
    """Makes clients of a fresh broker: embedded, or over TCP to a new server."""
    with TempDir(f"producers-{transport}") as tmp:
        if transport == "embedded":
            with open_broker(tmp, fsync) as broker:
                yield broker.client
        else:
            with flymq_server(tmp, fsync, ctx.server) as (address, _):
                yield lambda: tcp_client(address)


def _round(make_client: Callable[[], Any], send: Callable, count: int, round_no: int
           ) -> dict[str, float]:
    client = make_client()
    try:
        topic = f"producers-{next(_topics)}"
        client.create_topic(topic, 1)
        payloads = make_payloads(round_no, count, SIZE)
        t0 = time.perf_counter()
        send(client, topic, payloads)
        seconds = time.perf_counter() - t0
        expect_same(f"producer into {topic}", Checksum.of(payloads),
                    checksum_chunks(read_all(client.fetch, topic, 1)))
    finally:
        client.close()
    return throughput(count, SIZE, seconds)


@scenario("producers", "Producer / client.producer(), 100 B, vs Redis pipeline and NATS async",
          lambda ctx: len(ctx.fsync_modes) * 6,
          cost=("2 min", "20 s"))
def producers(ctx: Context) -> None:
    count = ctx.count(MESSAGES, MESSAGES // 20)
    for fsync in ctx.fsync_modes:
        table = f"fsync={fsync}, {SIZE} B × {count:,}, one connection"
        reference = None
        for transport in ("TCP", "embedded"):
            with _flymq_clients(ctx, fsync, transport) as make_client:
                for name, send in PRODUCERS.items():
                    _round(make_client, send, count, 0)                     # warm-up
                    stats = Stat.collect([_round(make_client, send, count, r + 1)
                                          for r in range(ctx.rounds)])
                    fig = ctx.figure(table, f"flymq {name}, {transport}", stats,
                                     [TARGETS[transport]])
                    if reference is None:
                        reference = fig      # the peers are compared with Producer over TCP
                    ctx.progress.step(f"flymq {name} {transport}")
        peer_test = Test(10, SIZE, MESSAGES, 1)    # the same count, --quick included
        for label, start in (("redis (pipeline of 1,000 XADD)", redis_server),
                             ("nats (publish_async, acks gathered per 1,000)", nats_server)):
            try:
                with TempDir("producers-peer") as tmp, start(tmp, fsync) as system:
                    run_test(system, peer_test, ctx, "threads", PEER_BATCH)  # warm-up
                    stats = rates([run_test(system, peer_test, ctx, "threads", PEER_BATCH)
                                   for _ in range(ctx.rounds)])
                    ctx.figure(table, label, stats).compare_to(reference, "msgs/s")
            except Unavailable as exc:
                ctx.skip(table, label, str(exc))
            ctx.progress.step(label)
