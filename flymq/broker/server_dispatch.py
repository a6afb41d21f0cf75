"""The opcode table of the TCP server: decode a request, call the Broker, encode the reply.

Each handler is a few lines that map wire fields to a Broker method and its result to a
response message; all behaviour lives in the Broker (docs/architecture.md). A handler returns
a response message, or a :class:`LongPoll` future when a FETCH_EX has to wait for data.

Where a call runs is decided here, so the event loop never waits on the disk: calls that may
fsync (produce under ``fsync=always``, topic and group metadata writes) run in the server's
thread pool; everything else runs inline, which is the fast path.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from flymq import protocol as m
from flymq.broker.config import TopicConfig
from flymq.broker.messages import columns
from flymq.broker.partition import SCAN_LIMIT
from flymq.errors import FlyMQError, InvalidRequestError, TopicNotFoundError, wire_text
from flymq.protocol import (MAX_PAYLOAD, Frame, Op, encode_frame, error_frame, frame_payload,
                            reply_op)
from flymq.broker.roles import ROLES

if TYPE_CHECKING:
    from flymq.broker.server import Server
    from flymq.broker.server_connection import Connection

log = logging.getLogger("flymq.server")

Handler = Callable[["Dispatcher", "Connection", Any], Any]


# --- handlers: one Broker call each ------------------------------------------------------------

class Produced(NamedTuple):
    """What a produce handler returns: the reply payload, and the (partition, end offset)
    pairs that must be durable before the reply may be sent (the appends do not wait)."""

    payload: bytes
    topic: str
    ends: tuple[tuple[int, int], ...]


class DurableReply(NamedTuple):
    """A reply that is ready but may only be sent after ``wait()`` (a blocking fsync wait,
    run in the thread pool) returns: produce under ``fsync=always``."""

    reply: bytes
    wait: Callable[[], None]


def _produced(topic: str, meta: Any) -> Produced:
    return Produced(m.RecordMetadataResponse.encode_model(meta), topic,
                    ((meta.partition, meta.offset + 1),))


def _produce(d: "Dispatcher", conn: "Connection", req: m.ProduceRequest) -> Any:
    return _produced(req.topic, d.broker.produce(req.topic, req.value, req.key or None,
                                                 req.partition, wait=False))


def _produce_ex(d: "Dispatcher", conn: "Connection", req: m.ProduceExRequest) -> Any:
    return _produced(req.topic, d.broker.produce(
        req.topic, req.value, req.key or None, req.partition, headers=req.headers or None,
        timestamp=req.timestamp or None, wait=False))


class _BatchRequest(NamedTuple):
    """A decoded PRODUCE_BATCH without per-record objects (records are tuples)."""

    topic: str
    records: list[tuple[bytes, bytes, int]]
    producer: tuple[int, int, int] | None     # (id, epoch, base_sequence) when idempotent


def _produce_batch(d: "Dispatcher", conn: "Connection", req: _BatchRequest) -> Any:
    timestamp, placed = d.broker.append_batch(req.topic, req.records, wait=False,
                                              producer=req.producer)
    ends: dict[int, int] = {}
    for partition, offset in placed:
        ends[partition] = offset + 1      # offsets grow within a partition: the last wins
    return Produced(m.ProduceBatchResponse.encode_results(timestamp, placed), req.topic,
                    tuple(ends.items()))


def _init_producer_id(d: "Dispatcher", conn: "Connection", req: Any) -> Any:
    return m.InitProducerIdResponse(*d.broker.init_producer_id())


def _consume(d: "Dispatcher", conn: "Connection", req: m.ConsumeRequest) -> Any:
    msg = d.broker.consume(req.topic, req.partition, req.offset)
    return m.ConsumeResponse(msg.key or b"", msg.data)


class Encoded(NamedTuple):
    """A reply payload encoded straight from stored columns (no message objects)."""

    payload: bytes

    def encode(self) -> bytes:
        return self.payload


def _fetch(d: "Dispatcher", conn: "Connection", req: m.FetchRequest) -> Any:
    runs, next_offset = d.broker.fetch_runs(req.topic, req.partition, req.offset,
                                            req.max_messages, req.filter, scan_limit=SCAN_LIMIT)
    offsets, _, keys, values, _ = columns(runs)
    return Encoded(m.encode_fetch(next_offset, offsets, keys, values))


def _fetch_ex(d: "Dispatcher", conn: "Connection", req: m.FetchExRequest) -> Any:
    reply = d.fetch_ex_now(req, req.offset)
    if reply.offsets or req.max_wait_ms <= 0:
        return reply
    return LongPoll(d, req, reply.next_offset)


def _create_topic(d: "Dispatcher", conn: "Connection", req: m.CreateTopicRequest) -> Any:
    d.broker.create_topic(req.topic, req.partitions)
    return m.AckResponse()


def _create_topic_ex(d: "Dispatcher", conn: "Connection", req: m.CreateTopicExRequest) -> Any:
    try:
        config = TopicConfig.from_dict(req.config)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"invalid topic config: {exc}") from None
    return m.CreateTopicExResponse(d.broker.create_topic(req.topic, req.partitions,
                                                         config=config))


def _delete_topic(d: "Dispatcher", conn: "Connection", req: m.DeleteTopicRequest) -> Any:
    d.broker.delete_topic(req.topic)
    return m.AckResponse()


def _list_topics(d: "Dispatcher", conn: "Connection", req: Any) -> Any:
    return m.ListTopicsResponse(d.broker.list_topics())


def _subscribe(d: "Dispatcher", conn: "Connection", req: m.SubscribeRequest) -> Any:
    member = conn.peer if req.group_id else None
    conn.subscribed = conn.subscribed or member is not None
    return m.OffsetResponse(d.broker.subscribe(req.topic, req.group_id, req.partition,
                                               req.mode or "latest", member=member))


def _commit(d: "Dispatcher", conn: "Connection", req: m.CommitRequest) -> Any:
    d.broker.commit_offset(req.topic, req.group_id, req.partition, req.offset)
    return m.AckResponse()


def _get_offset(d: "Dispatcher", conn: "Connection", req: m.GroupPartitionRequest) -> Any:
    return m.OffsetResponse(d.broker.get_committed_offset(req.topic, req.group_id,
                                                          req.partition))


def _reset_offset(d: "Dispatcher", conn: "Connection", req: m.ResetOffsetRequest) -> Any:
    d.broker.reset_offset(req.topic, req.group_id, req.partition, req.mode, req.offset)
    return m.AckResponse()


def _get_lag(d: "Dispatcher", conn: "Connection", req: m.GroupPartitionRequest) -> Any:
    lag = d.broker.get_lag(req.topic, req.group_id, req.partition)
    return m.LagResponse(lag["current_offset"], lag["committed_offset"], lag["latest_offset"],
                         lag["lag"])


def _group(g: dict) -> m.GroupDescription:
    return m.GroupDescription(g["topic"], g["group_id"], g["members"],
                              [m.PartitionOffset(o["partition"], o["offset"])
                               for o in g["offsets"]])


def _list_groups(d: "Dispatcher", conn: "Connection", req: Any) -> Any:
    return m.ListGroupsResponse([_group(g) for g in d.broker.list_consumer_groups()])


def _describe_group(d: "Dispatcher", conn: "Connection", req: m.GroupRequest) -> Any:
    return _group(d.broker.describe_consumer_group(req.topic, req.group_id))


def _delete_group(d: "Dispatcher", conn: "Connection", req: m.GroupRequest) -> Any:
    d.broker.delete_consumer_group(req.topic, req.group_id)
    return m.AckResponse()


def _cluster_metadata(d: "Dispatcher", conn: "Connection", req: m.ClusterMetadataRequest) -> Any:
    names = [req.topic] if req.topic else d.broker.list_topics(include_internal=True)
    node, addr = d.node_id, d.server.advertised_address
    return m.ClusterMetadataResponse("standalone", [
        m.TopicPartitions(name, [m.PartitionInfo(p, node, addr, 1, "online", [node], [node])
                                 for p in range(d.broker.partition_count(name))])
        for name in names])


def _list_offsets(d: "Dispatcher", conn: "Connection", req: m.ListOffsetsRequest) -> Any:
    start, end = d.broker.offsets(req.topic, req.partition)
    at = (d.broker.offset_for_timestamp(req.topic, req.partition, req.timestamp)
          if req.timestamp >= 0 else -1)
    return m.ListOffsetsResponse(start, end, at)


def _hello(d: "Dispatcher", conn: "Connection", req: m.HelloRequest) -> Any:
    info = d.broker.server_info()
    return m.HelloResponse("flymq", str(info.get("version", "")), d.served_ops,
                           list(info.get("features", [])))


def _server_info(d: "Dispatcher", conn: "Connection", req: Any) -> Any:
    return m.ServerInfoResponse(d.broker.server_info())


def _auth(d: "Dispatcher", conn: "Connection", req: m.AuthRequest) -> Any:
    """Authentication is disabled: accept and bind the name (wire-protocol.md §6.8.1)."""
    conn.user = req.username
    return m.AuthResponse(True, req.username, [], "")


def _whoami(d: "Dispatcher", conn: "Connection", req: Any) -> Any:
    return m.WhoAmIResponse(conn.user is not None, conn.user or "", [], [])


def _role_list(d: "Dispatcher", conn: "Connection", req: Any) -> Any:
    return m.RoleListResponse([m.RoleInfo(r.name, list(r.permissions), r.description)
                               for r in ROLES])


PRODUCE = int(Op.PRODUCE)
_pack_rm_tail = m.pack_record_metadata_tail   # (partition, offset, timestamp, key, value size)
_RM_TAIL_SIZE = len(m.pack_record_metadata_tail(0, 0, 0, 0, 0))

# Ops whose Broker call may wait on the disk (fsync of metadata or of the log).
_DISK_OPS = frozenset({Op.CREATE_TOPIC, Op.CREATE_TOPIC_EX, Op.DELETE_TOPIC, Op.COMMIT,
                       Op.RESET_OFFSET, Op.DELETE_GROUP, Op.INIT_PRODUCER_ID})
#: Appends: their replies may wait for durability (and be held together for one fsync).
PRODUCE_OPS = frozenset({Op.PRODUCE, Op.PRODUCE_EX, Op.PRODUCE_BATCH})

HANDLERS: dict[int, Handler] = {
    Op.PRODUCE: _produce,
    Op.CONSUME: _consume,
    Op.CREATE_TOPIC: _create_topic,
    Op.CREATE_TOPIC_EX: _create_topic_ex,
    Op.SUBSCRIBE: _subscribe,
    Op.COMMIT: _commit,
    Op.FETCH: _fetch,
    Op.LIST_TOPICS: _list_topics,
    Op.DELETE_TOPIC: _delete_topic,
    Op.CONSUME_ZERO_COPY: _consume,
    Op.FETCH_BINARY: _fetch,
    Op.CLUSTER_METADATA: _cluster_metadata,
    Op.GET_OFFSET: _get_offset,
    Op.RESET_OFFSET: _reset_offset,
    Op.LIST_GROUPS: _list_groups,
    Op.DESCRIBE_GROUP: _describe_group,
    Op.GET_LAG: _get_lag,
    Op.DELETE_GROUP: _delete_group,
    Op.HELLO: _hello,
    Op.PRODUCE_BATCH: _produce_batch,
    Op.INIT_PRODUCER_ID: _init_producer_id,
    Op.FETCH_EX: _fetch_ex,
    Op.SERVER_INFO: _server_info,
    Op.PRODUCE_EX: _produce_ex,
    Op.LIST_OFFSETS: _list_offsets,
    Op.AUTH: _auth,
    Op.WHOAMI: _whoami,
    Op.ROLE_LIST: _role_list,
}

# Opcodes of features from later issues: a clear error instead of "unknown opcode".
_LATER: dict[str, tuple[int, ...]] = {
    "schemas": tuple(range(0x10, 0x16)),
    "dlq": (0x20, 0x21, 0x22),
    "delayed": (0x30,),
    "ttl": (0x35,),
    "transactions": (0x40, 0x41, 0x42, 0x43),
    "audit": (0x80, 0x81),
}
NOT_YET: dict[int, str] = {op: f"{feature} is not supported yet by this flymq server"
                           for feature, ops in _LATER.items() for op in ops}
# User and ACL management (0x73-0x7C) with authentication disabled (wire-protocol.md §6.9).
NOT_YET.update({op: "authentication is not enabled" for op in range(0x73, 0x7D)})


class Dispatcher:
    """Turns one request frame into reply bytes, or a future of them."""

    def __init__(self, server: "Server"):
        self.server = server
        self.broker = server.broker
        self.loop = server.loop
        self.executor = server.executor
        self.node_id = server.config.node_id or socket.gethostname()
        self.served_ops = sorted(HANDLERS)
        self._known_topics: set[str] = set()
        self._reply_prefix: dict[str, bytes] = {}

    def dispatch(self, conn: "Connection", frame: Frame) -> bytes | DurableReply | asyncio.Future:
        """Reply bytes; a :class:`DurableReply` for an append that must become durable
        first; or a future of reply bytes (disk work in the pool, long-poll fetch)."""
        op = frame.op
        if op == PRODUCE:
            return self._produce(conn, frame)
        handler = HANDLERS.get(op)
        if handler is None:
            return error_frame(NOT_YET.get(op) or f"unknown opcode: {op}")
        try:
            req = _decode(op, frame)
            if op in _DISK_OPS or (op in PRODUCE_OPS and self._creates_topic(req.topic)):
                return self.loop.run_in_executor(self.executor, self.call, conn, op, handler, req)
            reply = handler(self, conn, req)
            if op in PRODUCE_OPS:
                frame_bytes = encode_frame(reply_op(op), reply.payload)
                wait = self._durability_wait(reply)
                return frame_bytes if wait is None else DurableReply(frame_bytes, wait)
            if isinstance(reply, asyncio.Future):
                return reply
            return encode_frame(reply_op(op), reply.encode())
        except Exception as exc:
            return self.fail(op, exc)

    def _produce(self, conn: "Connection", frame: Frame) -> bytes | DurableReply | asyncio.Future:
        """:meth:`dispatch` of PRODUCE (one message per request, the most frequent request),
        with fewer steps: no request or reply objects, a cached reply prefix per topic."""
        try:
            payload = frame_payload(frame)
        except Exception as exc:
            return self.fail(Op.PRODUCE, exc)
        return self.produce_payload(conn, payload, 0)

    def produce_payload(self, conn: "Connection", buf: bytes, start: int
                        ) -> bytes | DurableReply | asyncio.Future:
        """PRODUCE of the uncompressed payload at ``buf[start:]``: the connection passes a
        whole received frame and the header size, so the payload is never sliced out."""
        try:
            topic, key, value, partition = m.ProduceRequest.decode_fields(buf, start)
            if topic not in self._known_topics and self._creates_topic(topic):
                req = m.ProduceRequest(topic, key, value, partition)
                return self.loop.run_in_executor(self.executor, self.call, conn, Op.PRODUCE,
                                                 _produce, req)
            broker = self.broker
            placed = broker.append_one(topic, value, key or None, partition, None, None, False)
            prefix = self._reply_prefix.get(topic) or self._new_reply_prefix(topic)
            reply = prefix + _pack_rm_tail(*placed)
            partition, end = placed[0], placed[1] + 1
            if broker.is_durable(topic, partition, end):
                return reply
            return DurableReply(reply, partial(broker.wait_durable, topic, partition, end))
        except Exception as exc:
            return self.fail(Op.PRODUCE, exc)

    def _new_reply_prefix(self, topic: str) -> bytes:
        """Frame header and topic of a PRODUCE reply to ``topic`` (what precedes the tail)."""
        if len(self._reply_prefix) >= 10_000:  # topics come and go: keep the cache bounded
            self._reply_prefix.clear()
        name = m.RecordMetadataResponse(topic, 0, 0, 0).encode()[:-_RM_TAIL_SIZE]
        prefix = encode_frame(Op.PRODUCE, name + bytes(_RM_TAIL_SIZE))[:-_RM_TAIL_SIZE]
        self._reply_prefix[topic] = prefix
        return prefix

    def call(self, conn: "Connection", op: int, handler: Handler, req: Any) -> bytes:
        """Run a handler and encode its reply or error (any thread; a produce also waits
        here for its durability)."""
        try:
            reply = handler(self, conn, req)
            if op not in PRODUCE_OPS:
                return encode_frame(reply_op(op), reply.encode())
            wait = self._durability_wait(reply)
            if wait is not None:
                wait()
            return encode_frame(reply_op(op), reply.payload)
        except Exception as exc:
            return self.fail(op, exc)

    def _durability_wait(self, produced: Produced) -> Callable[[], None] | None:
        """None when the appends are already as durable as their policy promises (always so
        except under ``fsync=always``); else a blocking wait for them."""
        broker, topic = self.broker, produced.topic
        pending = [(p, end) for p, end in produced.ends if not broker.is_durable(topic, p, end)]
        if not pending:
            return None

        def wait() -> None:
            for partition, end in pending:
                broker.wait_durable(topic, partition, end)
        return wait

    @staticmethod
    def fail(op: int, exc: Exception) -> bytes:
        if not isinstance(exc, FlyMQError):
            log.exception("unexpected error handling opcode 0x%02x", op)
        return error_frame(wire_text(exc))

    def _creates_topic(self, topic: str) -> bool:
        """Whether a produce to ``topic`` would auto-create it (metadata is fsynced, so that
        produce runs in the thread pool).

        Known names are cached: a topic deleted later costs speed only (its re-creation
        runs inline once), never correctness.
        """
        if topic in self._known_topics:
            return False
        try:
            self.broker.partition_count(topic)
        except TopicNotFoundError:
            return True
        self._known_topics.add(topic)
        return False

    def fetch_ex_now(self, req: m.FetchExRequest, offset: int) -> m.FetchExResponse:
        """The reply to ``req`` from ``offset``, never larger than a frame: the byte budget
        counts values only, so tiny records are capped by count as well."""
        broker = self.broker
        budget = min(req.max_bytes or broker.config.fetch_max_bytes, MAX_PAYLOAD // 2)
        most = m.FetchExResponse.most_records(budget)
        runs, next_offset = broker.fetch_runs(req.topic, req.partition, offset,
                                              min(req.max_messages, most), req.filter,
                                              max_bytes=budget)
        start, end = broker.offsets(req.topic, req.partition)
        return m.FetchExResponse(next_offset, end, start, *columns(runs))


def _decode(op: int, frame: Frame) -> Any:
    if op == Op.PRODUCE_BATCH:
        return _BatchRequest(*m.ProduceBatchRequest.decode_records(frame_payload(frame)))
    return m.REQUESTS[op].decode(frame_payload(frame))


class LongPoll(asyncio.Future):
    """A FETCH_EX waiting for data: answered when the broker reports new data, at the
    deadline, or at once when the connection or the server shuts down (:meth:`wake`)."""

    def __init__(self, d: Dispatcher, req: m.FetchExRequest, offset: int):
        super().__init__(loop=d.loop)
        self._d, self._req, self._offset = d, req, offset
        self._cancel_watch = d.broker.watch(req.topic, req.partition, offset, self._from_broker)
        self._timer = d.loop.call_later(req.max_wait_ms / 1000, self.wake)
        self.add_done_callback(self._release)

    def _from_broker(self) -> None:
        try:
            self._d.loop.call_soon_threadsafe(self.wake)
        except RuntimeError:  # the loop is already closed: nobody is waiting any more
            pass

    def wake(self) -> None:
        if self.done():
            return
        try:
            reply = encode_frame(Op.FETCH_EX, self._d.fetch_ex_now(self._req, self._offset).encode())
        except Exception as exc:
            reply = self._d.fail(Op.FETCH_EX, exc)
        self.set_result(reply)

    def _release(self, _: asyncio.Future) -> None:
        self._timer.cancel()
        self._cancel_watch()
