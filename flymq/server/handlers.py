"""The FlyMQ v1 opcodes: each handler maps a request's fields to one call of the connection's
session and its result to a response message; all behaviour lives in the broker
(docs/architecture.md). ``OPS`` holds their registrations (:mod:`flymq.server.ops`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from flymq import protocol as m
from flymq.broker.appends import AppendRequest
from flymq.broker.config import TopicConfig
from flymq.broker.messages import columns
from flymq.broker.partition import SCAN_LIMIT
from flymq.broker.roles import ROLES
from flymq.errors import InvalidRequestError, TransactionNotActiveError, TransactionNotFoundError
from flymq.protocol import Op
from flymq.server.long_poll import ScanThenPoll, long_poll
from flymq.server.ops import OpTable, Produced

if TYPE_CHECKING:
    from flymq.broker.appends import AppendResult
    from flymq.server.connection import Connection
    from flymq.server.flymq_v1 import FlyMQv1

OPS = OpTable()
op = OPS.op

# Opcodes of features from later issues: a clear error instead of "unknown opcode".
OPS.later("audit", Op.AUDIT_QUERY, Op.AUDIT_EXPORT)
# User and ACL management with authentication disabled (wire-protocol.md §6.9).
OPS.later("auth", *range(Op.USER_CREATE, Op.PASSWORD_CHANGE + 1),
          refusal="authentication is not enabled")


# --- produce ------------------------------------------------------------------------------------

def _record_metadata(topic: str, key: bytes, value: bytes, result: "AppendResult") -> bytes:
    """The RecordMetadata payload of a one-record append (key_size -1 = no key)."""
    partition, offset = result.placements[0]
    return m.RecordMetadataResponse(topic, partition, offset, result.timestamp,
                                    len(key) if key else -1, len(value)).encode()


@op(Op.PRODUCE, m.ProduceRequest, produce=True)
def _produce(d: "FlyMQv1", conn: "Connection", req: m.ProduceRequest) -> Produced:
    """PRODUCE off the fast path (``FlyMQv1.produce_payload``): a compressed frame, or an
    append that creates its topic (on a worker thread)."""
    result = conn.session.append(AppendRequest(
        req.topic, ((req.key or None, req.value, req.partition),), wait=False))
    return Produced(_record_metadata(req.topic, req.key, req.value, result), result.durability)


@op(Op.PRODUCE_EX, m.ProduceExRequest, produce=True)
def _produce_ex(d: "FlyMQv1", conn: "Connection", req: m.ProduceExRequest) -> Produced:
    result = conn.session.append(AppendRequest(
        req.topic, ((req.key or None, req.value, req.partition, req.headers or None,
                     req.timestamp or None),), wait=False))
    return Produced(_record_metadata(req.topic, req.key, req.value, result), result.durability)


class _BatchRequest(NamedTuple):
    """A decoded PRODUCE_BATCH without per-record objects (records are tuples)."""

    topic: str
    records: list[tuple[bytes, bytes, int]]
    producer: tuple[int, int, int] | None     # (id, epoch, base_sequence) when idempotent

    @classmethod
    def decode(cls, payload: bytes) -> "_BatchRequest":
        return cls(*m.ProduceBatchRequest.decode_records(payload))


@op(Op.PRODUCE_BATCH, _BatchRequest, produce=True)
def _produce_batch(d: "FlyMQv1", conn: "Connection", req: _BatchRequest) -> Produced:
    result = conn.session.append(AppendRequest(req.topic, req.records, producer=req.producer,
                                               wait=False))
    return Produced(m.ProduceBatchResponse.encode_results(result.timestamp, result.placements),
                    result.durability)


@op(Op.INIT_PRODUCER_ID, m.EmptyRequest, disk=True, feature="idempotence")
def _init_producer_id(d: "FlyMQv1", conn: "Connection", req: Any) -> Any:
    return m.InitProducerIdResponse(*conn.session.init_producer_id())


# --- transactions (wire spec §6.5, §7.11; docs/transactions.md) --------------------------------

@op(Op.BEGIN_TX, m.EmptyRequest, feature="transactions")
def _begin_tx(d: "FlyMQv1", conn: "Connection", req: Any) -> Any:
    return m.TxnResponse(conn.session.begin_transaction(), True)


@op(Op.PRODUCE_TX, m.ProduceTxRequest, feature="transactions")
def _produce_tx(d: "FlyMQv1", conn: "Connection", req: m.ProduceTxRequest) -> Any:
    md = conn.session.produce_transactional(req.txn_id, req.topic, req.data)
    return m.RecordMetadataResponse(md.topic, md.partition, md.offset, md.timestamp, -1,
                                    len(req.data))


def _end_tx(end: Any, txn_id: str) -> Any:
    """COMMIT_TX / ABORT_TX: an unknown or finished id is upstream's soft failure (success
    0, §5.5); every other failure is an ERROR with its reason."""
    try:
        end(txn_id)
    except (TransactionNotFoundError, TransactionNotActiveError):
        return m.TxnResponse(txn_id, False)
    return m.TxnResponse(txn_id, True)


@op(Op.COMMIT_TX, m.TxnRequest, disk=True, feature="transactions")
def _commit_tx(d: "FlyMQv1", conn: "Connection", req: m.TxnRequest) -> Any:
    return _end_tx(conn.session.commit_transaction, req.txn_id)


@op(Op.ABORT_TX, m.TxnRequest, feature="transactions")
def _abort_tx(d: "FlyMQv1", conn: "Connection", req: m.TxnRequest) -> Any:
    return _end_tx(conn.session.abort_transaction, req.txn_id)


@op(Op.PRODUCE_TX_BATCH, m.ProduceTxBatchRequest, feature="transactions")
def _produce_tx_batch(d: "FlyMQv1", conn: "Connection", req: m.ProduceTxBatchRequest) -> Any:
    """In the event loop unless a step may wait on the disk (creating a topic, a commit
    that may fsync): a worker thread's hop is a third of the server's time per transaction."""
    session = conn.session
    records = [(r.topic, r.value) for r in req.records]
    if any(d._creates_topic(session, topic) for topic in {topic for topic, _ in records}):
        return d.server.in_worker(d.call, conn, _TX_BATCH_IN_WORKER, req)
    session.produce_transactional_batch(req.txn_id, records, begin=req.begin)
    if not req.commit:
        return m.AckResponse()
    if session.broker.transaction_commit_waits(req.txn_id):
        return d.server.in_worker(d.call, conn, _TX_COMMIT_IN_WORKER, req)
    session.commit_transaction(req.txn_id)
    return m.AckResponse()


def _tx_batch_in_worker(d: "FlyMQv1", conn: "Connection", req: m.ProduceTxBatchRequest) -> Any:
    conn.session.produce_transactional_batch(
        req.txn_id, [(r.topic, r.value) for r in req.records], req.commit, req.begin)
    return m.AckResponse()


def _tx_commit_in_worker(d: "FlyMQv1", conn: "Connection", req: m.ProduceTxBatchRequest) -> Any:
    conn.session.commit_transaction(req.txn_id)
    return m.AckResponse()


_TX_BATCH_IN_WORKER = OPS[Op.PRODUCE_TX_BATCH]._replace(handler=_tx_batch_in_worker, disk=True)
_TX_COMMIT_IN_WORKER = OPS[Op.PRODUCE_TX_BATCH]._replace(handler=_tx_commit_in_worker, disk=True)


@op(Op.TXN_OFFSET_COMMIT, m.TxnOffsetCommitRequest, feature="transactions")
def _txn_offset_commit(d: "FlyMQv1", conn: "Connection", req: m.TxnOffsetCommitRequest) -> Any:
    conn.session.send_offsets_to_transaction(
        req.txn_id, req.group_id, [(o.topic, o.partition, o.offset) for o in req.offsets])
    return m.AckResponse()


# --- read ---------------------------------------------------------------------------------------

@op(Op.CONSUME, m.ConsumeRequest)
@op(Op.CONSUME_ZERO_COPY, m.ConsumeRequest)
def _consume(d: "FlyMQv1", conn: "Connection", req: m.ConsumeRequest) -> Any:
    msg = conn.session.consume(req.topic, req.partition, req.offset)
    return m.ConsumeResponse(msg.key or b"", msg.data)


class Encoded(NamedTuple):
    """A reply payload encoded straight from stored columns (no message objects)."""

    payload: bytes

    def encode(self) -> bytes:
        return self.payload


def _cpu_heavy(req: Any) -> bool:
    """A fetch that evaluates a filter on up to a scan limit of records, or may read and
    encode more than SCAN_LIMIT records (a FETCH_EX of 16 MiB of 100-byte records took
    ~0.3 s): it runs on a CPU worker, so that it never holds up other connections."""
    return bool(req.filter) or req.max_messages > SCAN_LIMIT


@op(Op.FETCH, m.FetchRequest, cpu=_cpu_heavy)
@op(Op.FETCH_BINARY, m.FetchRequest, cpu=_cpu_heavy)
def _fetch(d: "FlyMQv1", conn: "Connection", req: m.FetchRequest) -> Any:
    runs, next_offset = conn.session.fetch_runs(req.topic, req.partition, req.offset,
                                                req.max_messages, req.filter,
                                                scan_limit=SCAN_LIMIT)
    offsets, _, keys, values, _ = columns(runs)
    return Encoded(m.encode_fetch(next_offset, offsets, keys, values))


@op(Op.FETCH_EX, m.FetchExRequest)
def _fetch_ex(d: "FlyMQv1", conn: "Connection", req: m.FetchExRequest) -> Any:
    if _cpu_heavy(req):
        return ScanThenPoll(d, conn.session, req)
    reply = d.fetch_ex_now(conn.session, req, req.offset)
    if reply.offsets or req.max_wait_ms <= 0:
        return reply
    return long_poll(d, conn.session, req, reply.next_offset)


@op(Op.LIST_OFFSETS, m.ListOffsetsRequest)
def _list_offsets(d: "FlyMQv1", conn: "Connection", req: m.ListOffsetsRequest) -> Any:
    session = conn.session
    start, end = session.offsets(req.topic, req.partition)
    at = (session.offset_for_timestamp(req.topic, req.partition, req.timestamp)
          if req.timestamp >= 0 else -1)
    return m.ListOffsetsResponse(start, end, at)


# --- topics -------------------------------------------------------------------------------------

@op(Op.CREATE_TOPIC, m.CreateTopicRequest, disk=True)
def _create_topic(d: "FlyMQv1", conn: "Connection", req: m.CreateTopicRequest) -> Any:
    conn.session.create_topic(req.topic, req.partitions)
    return m.AckResponse()


@op(Op.CREATE_TOPIC_EX, m.CreateTopicExRequest, disk=True)
def _create_topic_ex(d: "FlyMQv1", conn: "Connection", req: m.CreateTopicExRequest) -> Any:
    try:
        config = TopicConfig.from_dict(req.config)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"invalid topic config: {exc}") from None
    return m.CreateTopicExResponse(conn.session.create_topic(req.topic, req.partitions,
                                                             config=config))


@op(Op.DELETE_TOPIC, m.DeleteTopicRequest, disk=True)
def _delete_topic(d: "FlyMQv1", conn: "Connection", req: m.DeleteTopicRequest) -> Any:
    conn.session.delete_topic(req.topic)
    return m.AckResponse()


@op(Op.DESCRIBE_TOPIC, m.TopicRequest)
def _describe_topic(d: "FlyMQv1", conn: "Connection", req: m.TopicRequest) -> Any:
    return m.DescribeTopicResponse(conn.session.describe_topic(req.topic))


@op(Op.LIST_TOPICS, m.EmptyRequest)
def _list_topics(d: "FlyMQv1", conn: "Connection", req: Any) -> Any:
    return m.ListTopicsResponse(conn.session.list_topics())


@op(Op.CLUSTER_METADATA, m.ClusterMetadataRequest)
def _cluster_metadata(d: "FlyMQv1", conn: "Connection", req: m.ClusterMetadataRequest) -> Any:
    session = conn.session
    names = [req.topic] if req.topic else session.list_topics(include_internal=True)
    node, addr = d.node_id, d.server.advertised_address
    return m.ClusterMetadataResponse("standalone", [
        m.TopicPartitions(name, [m.PartitionInfo(p, node, addr, 1, "online", [node], [node])
                                 for p in range(session.partition_count(name))])
        for name in names])


# --- consumer groups ----------------------------------------------------------------------------

@op(Op.SUBSCRIBE, m.SubscribeRequest)
def _subscribe(d: "FlyMQv1", conn: "Connection", req: m.SubscribeRequest) -> Any:
    return m.OffsetResponse(conn.session.subscribe(req.topic, req.group_id, req.partition,
                                                   req.mode or "latest"))


@op(Op.COMMIT, m.CommitRequest, disk=True)
def _commit(d: "FlyMQv1", conn: "Connection", req: m.CommitRequest) -> Any:
    conn.session.commit_offset(req.topic, req.group_id, req.partition, req.offset)
    return m.AckResponse()


@op(Op.GET_OFFSET, m.GroupPartitionRequest)
def _get_offset(d: "FlyMQv1", conn: "Connection", req: m.GroupPartitionRequest) -> Any:
    return m.OffsetResponse(conn.session.get_committed_offset(req.topic, req.group_id,
                                                              req.partition))


@op(Op.RESET_OFFSET, m.ResetOffsetRequest, disk=True)
def _reset_offset(d: "FlyMQv1", conn: "Connection", req: m.ResetOffsetRequest) -> Any:
    conn.session.reset_offset(req.topic, req.group_id, req.partition, req.mode, req.offset)
    return m.AckResponse()


@op(Op.GET_LAG, m.GroupPartitionRequest)
def _get_lag(d: "FlyMQv1", conn: "Connection", req: m.GroupPartitionRequest) -> Any:
    lag = conn.session.get_lag(req.topic, req.group_id, req.partition)
    return m.LagResponse(lag["current_offset"], lag["committed_offset"], lag["latest_offset"],
                         lag["lag"])


def _group(g: dict) -> m.GroupDescription:
    return m.GroupDescription(g["topic"], g["group_id"], g["members"],
                              [m.PartitionOffset(o["partition"], o["offset"])
                               for o in g["offsets"]])


@op(Op.LIST_GROUPS, m.EmptyRequest)
def _list_groups(d: "FlyMQv1", conn: "Connection", req: Any) -> Any:
    return m.ListGroupsResponse([_group(g) for g in conn.session.list_consumer_groups()])


@op(Op.DESCRIBE_GROUP, m.GroupRequest)
def _describe_group(d: "FlyMQv1", conn: "Connection", req: m.GroupRequest) -> Any:
    return _group(conn.session.describe_consumer_group(req.topic, req.group_id))


@op(Op.DELETE_GROUP, m.GroupRequest, disk=True)
def _delete_group(d: "FlyMQv1", conn: "Connection", req: m.GroupRequest) -> Any:
    conn.session.delete_consumer_group(req.topic, req.group_id)
    return m.AckResponse()


# --- server, identity ---------------------------------------------------------------------------

@op(Op.HELLO, m.HelloRequest)
def _hello(d: "FlyMQv1", conn: "Connection", req: m.HelloRequest) -> Any:
    session = conn.session
    return m.HelloResponse("flymq", str(session.server_info().get("version", "")), d.served_ops,
                           sorted(session.features))


@op(Op.SERVER_INFO, m.EmptyRequest)
def _server_info(d: "FlyMQv1", conn: "Connection", req: Any) -> Any:
    return m.ServerInfoResponse(conn.session.server_info())


@op(Op.AUTH, m.AuthRequest)
def _auth(d: "FlyMQv1", conn: "Connection", req: m.AuthRequest) -> Any:
    """Authentication is disabled: the session accepts and binds the name (§6.8.1)."""
    result = conn.session.authenticate(req.username, req.password)
    return m.AuthResponse(result.success, result.username or "", list(result.roles),
                          result.error or "")


@op(Op.WHOAMI, m.EmptyRequest)
def _whoami(d: "FlyMQv1", conn: "Connection", req: Any) -> Any:
    who = conn.session.whoami()
    return m.WhoAmIResponse(who.authenticated, who.username or "", list(who.roles),
                            list(who.permissions))


@op(Op.ROLE_LIST, m.EmptyRequest)
def _role_list(d: "FlyMQv1", conn: "Connection", req: Any) -> Any:
    return m.RoleListResponse([m.RoleInfo(r.name, list(r.permissions), r.description)
                               for r in ROLES])


from flymq.server import delivery_handlers  # noqa: E402,F401 - delayed, TTL and DLQ opcodes

# --- schema registry (wire spec §6.2, §7.12; docs/schemas.md) ----------------------------------

def _schema_id(entry: dict) -> str:
    """LIST_SCHEMAS and GET_SCHEMA put the id ``<name>-v<N>`` in the name field, as upstream."""
    return f"{entry['name']}-v{entry['version']}"


@op(Op.REGISTER_SCHEMA, m.RegisterSchemaRequest, disk=True, feature="schemas")
def _register_schema(d: "FlyMQv1", conn: "Connection", req: m.RegisterSchemaRequest) -> Any:
    version = conn.session.register_schema(req.name, req.schema_type, req.definition)
    return m.RegisterSchemaResponse(req.name, req.schema_type, version)


@op(Op.GET_SCHEMA, m.GetSchemaRequest, feature="schemas")
def _get_schema(d: "FlyMQv1", conn: "Connection", req: m.GetSchemaRequest) -> Any:
    entry = conn.session.get_schema(req.name, req.version)
    return m.GetSchemaResponse(_schema_id(entry), entry["type"], entry["version"])


@op(Op.LIST_SCHEMAS, m.ListSchemasRequest, feature="schemas")
def _list_schemas(d: "FlyMQv1", conn: "Connection", req: m.ListSchemasRequest) -> Any:
    return m.ListSchemasResponse([m.SchemaEntry(_schema_id(e), e["type"], e["version"])
                                  for e in conn.session.list_schemas(req.name)])


@op(Op.VALIDATE_SCHEMA, m.ValidateSchemaRequest, feature="schemas")
def _validate_schema(d: "FlyMQv1", conn: "Connection", req: m.ValidateSchemaRequest) -> Any:
    errors = conn.session.schema_errors(req.name, req.message)
    return m.ValidateSchemaResponse(not errors, errors)


@op(Op.PRODUCE_WITH_SCHEMA, m.ProduceWithSchemaRequest, produce=True, feature="schemas")
def _produce_with_schema(d: "FlyMQv1", conn: "Connection",
                         req: m.ProduceWithSchemaRequest) -> Produced:
    session = conn.session
    session.check_schema(req.schema_name, req.data)
    result = session.append(AppendRequest(req.topic, ((None, req.data, -1),), wait=False))
    return Produced(_record_metadata(req.topic, b"", req.data, result), result.durability)


@op(Op.PRODUCE_WITH_SCHEMA_EX, m.ProduceWithSchemaExRequest, produce=True, feature="schemas")
def _produce_with_schema_ex(d: "FlyMQv1", conn: "Connection",
                            req: m.ProduceWithSchemaExRequest) -> Produced:
    session = conn.session
    session.check_schema(req.schema_name, req.value, req.version)
    result = session.append(AppendRequest(
        req.topic, ((req.key or None, req.value, req.partition),), wait=False))
    return Produced(_record_metadata(req.topic, req.key, req.value, result), result.durability)


@op(Op.DELETE_SCHEMA, m.DeleteSchemaRequest, disk=True, feature="schemas")
def _delete_schema(d: "FlyMQv1", conn: "Connection", req: m.DeleteSchemaRequest) -> Any:
    conn.session.delete_schema(req.name, req.version)
    return m.SuccessResponse()


@op(Op.SCHEMA_DESCRIBE, m.SchemaDescribeRequest, feature="schemas")
def _describe_schema(d: "FlyMQv1", conn: "Connection", req: m.SchemaDescribeRequest) -> Any:
    info = conn.session.describe_schema(req.name, req.version)
    return m.SchemaDescribeResponse(info.name, info.version, info.type.value,
                                    info.definition.encode("utf-8"), info.compatibility.value,
                                    int(info.created_at.timestamp() * 1000))


@op(Op.SCHEMA_COMPATIBILITY, m.SchemaCompatibilityRequest, disk=True, feature="schemas")
def _schema_compatibility(d: "FlyMQv1", conn: "Connection",
                          req: m.SchemaCompatibilityRequest) -> Any:
    session = conn.session
    if req.mode:
        return m.SchemaCompatibilityResponse(session.set_schema_compatibility(req.mode, req.name))
    return m.SchemaCompatibilityResponse(session.get_schema_compatibility(req.name))


from flymq.server import group_handlers  # noqa: E402,F401 - registers the GROUP_* opcodes
