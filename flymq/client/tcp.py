"""``TcpTransport``: the Transport interface over FlyMQ protocol v1 (one blocking socket).

Connection model (wire-protocol.md §2, §9; client-api.md §3.1):

* bootstrap failover: up to ``max_retries`` rounds over the server list, ``retry_delay_ms``
  between rounds, ``connect_timeout_ms`` per attempt (connect, TLS handshake and HELLO);
* one request in flight, guarded by a re-entrant lock so threads can share a transport;
  pipelined single PRODUCEs are the one exception (all written, then all replies read);
* any I/O failure drops the socket and raises a ``ConnectionError`` subclass (a request
  timeout raises ``flymq.errors.TimeoutError``); the *next* call reconnects and
  re-authenticates, nothing is ever re-sent silently;
* HELLO (``0xC0``) on connect tells a flymq server from an upstream one: a flymq server lists
  its extension opcodes and features, an upstream server answers ``unknown opcode: 192`` and
  the transport then sticks to standard opcodes.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import struct
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Sequence

from flymq.bulk import gc_paused
from flymq.client.config import ClientConfig
from flymq.client.record_watch import RecordWatch
from flymq.client.transport import Transport
from flymq.features import not_supported
from flymq.errors import (AuthenticationError, ConnectionClosedError, ConnectionError,
                          FlyMQError, NoAvailableServerError, ProtocolError, TimeoutError,
                          TransactionError, TransactionNotActiveError,
                          UnsupportedOperationError, error_from_wire)
from flymq.message_list import MessageColumns, MessageList
from flymq.models import (AuthResponse, ClusterMetadata, ConsumedMessage, DLQMessage,
                          FetchResult, JoinResult, PartitionInfo, RecordMetadata,
                          RecordMetadataList, TopicMetadata, TopicPartitionInfo, WhoAmIResponse)
from flymq import protocol as m
from flymq.dead_letter_records import local_time
from flymq.errors import DeadLetterNotFoundError, ServerError, StorageError
from flymq.models import DelayedRecordMetadata
from flymq.models import Compatibility, SchemaInfo, SchemaType
from flymq.protocol import (FLAG_BINARY, FLAG_GZIP, HEADER, HEADER_SIZE, MAGIC, VERSION, Frame,
                            FrameDecoder, Op, encode_frame)

if TYPE_CHECKING:
    from flymq.topic_config import TopicConfig

__all__ = ["TcpTransport", "parse_server", "build_ssl_context"]

DEFAULT_PORT = 9092
CLIENT_NAME = "flymq-python"
#: What an upstream (Go) server serves besides the core operations.
UPSTREAM_FEATURES = frozenset({"delayed", "ttl", "schemas", "transactions", "dlq", "auth"})
#: A socket idle longer than this is probed for a server-side close before it is reused.
IDLE_PROBE_S = 1.0
_RECV_CHUNK = 256 * 1024


def _schema_entry(name: str, schema_type: str, version: int) -> dict[str, Any]:
    """A LIST_SCHEMAS entry as the embedded broker gives it: the bare name (servers send the
    id ``<name>-v<N>``, wire spec §6.2.3)."""
    return {"name": name.removesuffix(f"-v{version}"), "type": schema_type, "version": version}


def parse_server(server: str) -> tuple[str, int]:
    """``host:port`` split on the last colon; ``[v6]:port`` and a bare host are accepted."""
    s = server.strip()
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif s.count(":") == 1:
        host, port = s.rsplit(":", 1)
    else:                                   # bare host name or bare IPv6 literal
        host, port = s, ""
    try:
        return host or "localhost", int(port) if port else DEFAULT_PORT
    except ValueError:
        raise ValueError(f"invalid server address {server!r}: port must be a number") from None


def _set_timeout(sock: socket.socket, seconds: float) -> None:
    """The request timeout of an established connection.

    A plain socket stays in blocking mode and gets the kernel's ``SO_RCVTIMEO`` /
    ``SO_SNDTIMEO`` (a timed-out call fails with ``EAGAIN``, i.e. ``BlockingIOError``):
    ``settimeout`` would make CPython ``poll()`` before every ``send`` and ``recv``, two
    extra syscalls per request. TLS sockets keep ``settimeout``.
    """
    if isinstance(sock, ssl.SSLSocket) or not hasattr(socket, "SO_RCVTIMEO"):
        sock.settimeout(seconds)
        return
    usec = max(1, round(seconds * 1_000_000))   # 0 would mean "no timeout"
    tv = struct.pack("ll", usec // 1_000_000, usec % 1_000_000)
    sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)


def build_ssl_context(config: ClientConfig) -> ssl.SSLContext | None:
    """The client TLS context of client-api §3.1, or None when TLS is off."""
    if not config.tls_enabled:
        return None
    try:
        ctx = ssl.create_default_context(cafile=None if config.tls_insecure_skip_verify
                                         else config.tls_ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if config.tls_insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if config.tls_cert_file:
            ctx.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectionError(f"TLS setup failed: {exc}",
                              hint="Check tls_ca_file / tls_cert_file / tls_key_file.") from exc
    return ctx


class TcpTransport(Transport):
    """A connection to a FlyMQ server (flymq or upstream) with bootstrap failover."""

    def __init__(self, servers: Sequence[str] | str, config: ClientConfig | None = None):
        self.config = config or ClientConfig()
        names = servers.split(",") if isinstance(servers, str) else list(servers)
        self.servers = [s.strip() for s in names if s and s.strip()] or ["localhost:9092"]
        self._addresses = [parse_server(s) for s in self.servers]
        self._ssl = build_ssl_context(self.config)
        self._lock = threading.RLock()
        self._sock: socket.socket | None = None
        self._index = 0                     # server to try first
        self._decoder = FrameDecoder()
        self._frames: deque[Frame] = deque()
        self._chunk = bytearray(_RECV_CHUNK)
        self._last_io = 0.0
        self._closed = False
        self._credentials: tuple[str, str] | None = None
        self._watch: RecordWatch | None = None   # long-polls for idle consumers, made on use
        self._ext_ops: frozenset[int] = frozenset()
        self._features: frozenset[str] = UPSTREAM_FEATURES
        self.server_name = ""               # from HELLO; "" for an upstream server
        self.server_version = ""
        self.address: tuple[str, int] | None = None
        with self._lock:
            self._connect()     # eager, like pyflymq; the client authenticates afterwards

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()
            watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def is_flymq_server(self) -> bool:
        """True when the server answered HELLO (so flymq extensions may be used)."""
        return bool(self.server_name)

    def supports(self, feature: str) -> bool:
        return feature in self._features

    def _has(self, op: Op) -> bool:
        return op in self._ext_ops

    # --- connection management ---------------------------------------------------------------
    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        self._frames.clear()
        self._decoder = FrameDecoder()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _connect(self) -> None:
        """The failover loop: every server once per round, ``max_retries`` rounds."""
        n = len(self._addresses)
        rounds = max(1, self.config.max_retries)
        first = self.address is None  # never connected: refused means nothing runs there
        last: BaseException | None = None
        for rnd in range(rounds):
            if rnd:
                time.sleep(self.config.retry_delay_ms / 1000.0)
            refused = 0
            for i in range(n):
                idx = (self._index + i) % n
                try:
                    self._open(*self._addresses[idx])
                except (OSError, FlyMQError, ProtocolError) as exc:
                    self._drop()
                    last = exc
                    refused += isinstance(exc, ConnectionRefusedError)
                    continue
                self._index = idx
                return
            if first and refused == n:  # answer at once; a restarting server gets rounds
                raise NoAvailableServerError(self.servers, hint=(
                    f"Nothing is listening at {', '.join(self.servers)}: start a broker there "
                    "(`flymq serve` runs one on 127.0.0.1:9092) or fix bootstrap_servers."
                )) from last
        if isinstance(last, StorageError):  # a server is there but cannot take us: say why
            raise last
        raise NoAvailableServerError(self.servers) from last

    def _open(self, host: str, port: int) -> None:
        timeout = self.config.connect_timeout_ms / 1000.0
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        infos.sort(key=lambda info: info[0] != socket.AF_INET6)       # IPv6 first
        error: OSError | None = None
        for family, stype, proto, _, addr in infos:
            sock = socket.socket(family, stype, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(addr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            break
        else:
            raise error or OSError(f"cannot resolve {host}")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl is not None:
            try:
                sock = self._ssl.wrap_socket(sock, server_hostname=self.config.tls_server_name
                                             or host)
            except (OSError, ssl.SSLError):
                sock.close()
                raise
        self._sock = sock
        self.address = (host, port)
        self._last_io = time.monotonic()
        self._hello()                     # still under the connect timeout
        _set_timeout(sock, self.config.request_timeout_ms / 1000.0)

    def _hello(self) -> None:
        from flymq import __version__ as version
        frame = self._exchange(Op.HELLO, m.HelloRequest(CLIENT_NAME, version).encode())
        if frame.op == Op.HELLO:
            hello = m.HelloResponse.decode(frame.payload)
            self.server_name, self.server_version = hello.server_name, hello.server_version
            self._ext_ops = frozenset(hello.ops)
            self._features = frozenset(hello.features)
        else:                               # upstream: "unknown opcode: 192"
            if frame.op == Op.ERROR:
                error = error_from_wire(m.ErrorResponse.decode(frame.payload).message)
                if isinstance(error, StorageError):  # e.g. it has no descriptor for us
                    raise error
            self.server_name = self.server_version = ""
            self._ext_ops = frozenset()
            self._features = UPSTREAM_FEATURES

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionClosedError("Transport is closed", hint="Create a new client.")

    def _ensure(self) -> None:
        self._check_open()
        if self._sock is not None and time.monotonic() - self._last_io > IDLE_PROBE_S \
                and self._peer_closed():
            self._drop()
        if self._sock is None:
            self._connect()
            if self._credentials is not None:      # re-authenticate after a reconnect
                try:
                    self._auth(*self._credentials)
                except FlyMQError:
                    self._drop()
                    raise

    def _peer_closed(self) -> bool:
        """After idling: has the server closed (e.g. its 5-minute idle timeout)?"""
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket):
            return False
        try:
            with selectors.DefaultSelector() as selector:  # poll/epoll: any descriptor number
                selector.register(sock, selectors.EVENT_READ)
                readable = selector.select(0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # --- raw I/O (callers hold the lock) ---------------------------------------------------------
    def _io_failure(self, exc: OSError) -> FlyMQError:
        self._drop()
        host, port = self.address or (None, None)
        if isinstance(exc, (socket.timeout, BlockingIOError)):  # BlockingIOError: SO_RCVTIMEO
            return TimeoutError(f"no reply from {host}:{port} within "
                                f"{self.config.request_timeout_ms} ms (connection dropped)")
        return ConnectionError(f"connection to {host}:{port} failed: {exc}", host, port)

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise self._io_failure(exc) from exc

    def _recv_frame(self) -> Frame:
        frames = self._frames
        if not frames:
            sock, chunk = self._sock, self._chunk
            view = memoryview(chunk)
            try:
                while not frames:
                    n = sock.recv_into(view)
                    if not n:
                        self._drop()
                        raise ConnectionClosedError()
                    if n >= HEADER_SIZE and not self._decoder.buffered:
                        # fast path: exactly one whole, valid frame arrived
                        magic, version, op, flags, length = HEADER.unpack_from(chunk)
                        if n == HEADER_SIZE + length and magic == MAGIC and version == VERSION:
                            self._last_io = time.monotonic()
                            return Frame(op, flags, bytes(view[HEADER_SIZE:n]))
                    frames.extend(self._decoder.feed(view[:n]))
            except OSError as exc:
                raise self._io_failure(exc) from exc
            except ProtocolError:
                self._drop()
                raise
        self._last_io = time.monotonic()
        return frames.popleft()

    def _exchange(self, op: Op, payload: bytes, flags: int = FLAG_BINARY) -> Frame:
        self._send(encode_frame(op, payload, flags))
        return self._recv_frame()

    # --- request helpers ---------------------------------------------------------------------------
    def _request(self, op: Op, payload: bytes = b"", flags: int = FLAG_BINARY,
                 **context: Any) -> bytes:
        """One round trip; returns the reply payload or raises the mapped error."""
        with self._lock:
            self._ensure()
            frame = self._exchange(op, payload, flags)
        return _reply(op, frame, context)

    def _call(self, op: Op, req: m.WireMessage, response: type[m.WireMessage] | None = None,
              **context: Any) -> Any:
        payload = self._request(op, req.encode(), **context)
        return (response or m.RESPONSES[op]).decode(payload)

    def _extension(self, op: Op, what: str) -> None:
        if not self._has(op):
            raise UnsupportedOperationError(
                f"{what} needs a flymq server (extension opcode 0x{op:02X}); "
                f"{self.address} does not offer it")

    # --- topics ----------------------------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int = 1, *,
                     config: "TopicConfig | None" = None) -> bool:
        """Standard CREATE_TOPIC (whose reply cannot say whether the topic was new, so True);
        per-topic settings need flymq's CREATE_TOPIC_EX."""
        if config is None:
            self._call(Op.CREATE_TOPIC, m.CreateTopicRequest(topic, partitions), topic=topic)
            return True
        self._extension(Op.CREATE_TOPIC_EX, "per-topic config")
        return self._call(Op.CREATE_TOPIC_EX,
                          m.CreateTopicExRequest(topic, partitions, config.to_dict()),
                          topic=topic).created

    def delete_topic(self, topic: str) -> bool:
        self._call(Op.DELETE_TOPIC, m.TopicRequest(topic), topic=topic)
        return True

    def list_topics(self) -> list[str]:
        return self._call(Op.LIST_TOPICS, m.EmptyRequest()).topics

    def topic_metadata(self, topic: str) -> TopicMetadata:
        return TopicMetadata(topic, self.partition_count(topic))

    def partition_count(self, topic: str) -> int:
        reply = self._call(Op.CLUSTER_METADATA, m.ClusterMetadataRequest(topic), topic=topic)
        return sum(len(t.partitions) for t in reply.topics if t.name == topic)

    def describe_topic(self, topic: str) -> dict[str, Any]:
        """DESCRIBE_TOPIC where the server offers it; else offsets only (sizes and config
        None), which is all an upstream server can tell."""
        if self._has(Op.DESCRIBE_TOPIC):
            return self._call(Op.DESCRIBE_TOPIC, m.TopicRequest(topic), topic=topic).topic
        return super().describe_topic(topic)

    def cluster_metadata(self, topic: str = "") -> ClusterMetadata:
        reply = self._call(Op.CLUSTER_METADATA, m.ClusterMetadataRequest(topic), topic=topic)
        return ClusterMetadata(reply.cluster_id, [
            TopicPartitionInfo(t.name, [
                PartitionInfo(p.partition, p.leader_id, p.leader_addr, p.epoch, p.state,
                              list(p.replicas), list(p.isr)) for p in t.partitions])
            for t in reply.topics])

    # --- produce ---------------------------------------------------------------------------------------
    def produce(self, topic: str, value: bytes, key: bytes | None = None, partition: int = -1,
                *, headers: dict[str, str] | None = None, timestamp: int | None = None,
                compression_type: str = "none") -> RecordMetadata:
        if not (headers or timestamp or compression_type == "gzip"):  # the hot path, inlined
            data = m.ProduceRequest.encode_frame_fields(topic, key or b"", value, partition)
            with self._lock:
                self._ensure()
                self._send(data)
                frame = self._recv_frame()
            if frame.op != Op.PRODUCE:
                _reply(Op.PRODUCE, frame, {"topic": topic, "partition": partition})  # raises
            return m.RecordMetadataResponse.decode_model(frame.payload)
        if headers or timestamp:
            self._extension(Op.PRODUCE_EX, "record headers and timestamps")
            op = Op.PRODUCE_EX
            payload = m.ProduceExRequest(topic, key or b"", value, partition, timestamp or 0,
                                         dict(headers or {})).encode()
        else:
            op = Op.PRODUCE
            payload = m.ProduceRequest.encode_fields(topic, key or b"", value, partition)
        flags = FLAG_BINARY
        if compression_type == "gzip":
            payload, flags = m.gzip_payload(payload), FLAG_BINARY | FLAG_GZIP
        reply = self._request(op, payload, flags, topic=topic, partition=partition)
        return m.RecordMetadataResponse.decode_model(reply)

    def produce_batch(self, topic: str, records: Sequence[tuple[bytes | None, bytes, int]]
                      ) -> Sequence[RecordMetadata]:
        """One PRODUCE_BATCH (all-or-nothing) on a flymq server; otherwise pipelined PRODUCEs,
        where each record succeeds or fails on its own and the first error is raised after
        every reply has been read (the stream stays in step)."""
        if not records:
            return RecordMetadataList()
        if self._has(Op.PRODUCE_BATCH):
            timestamp, placed = self.append_batch(topic, records)
            return RecordMetadataList.of_batch(topic, timestamp, placed, records)
        data = b"".join(encode_frame(Op.PRODUCE, m.ProduceRequest.encode_fields(topic, k or b"",
                                                                                v, p))
                        for k, v, p in records)
        with self._lock:
            self._ensure()
            self._send(data)
            frames = [self._recv_frame() for _ in records]
        results, first_error = [], None
        for frame, (_, _, p) in zip(frames, records):
            try:
                results.append(m.RecordMetadataResponse.decode_model(
                    _reply(Op.PRODUCE, frame, {"topic": topic, "partition": p})))
            except FlyMQError as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return results

    def append_batch(self, topic: str, records: Sequence[tuple[bytes | None, bytes, int]], *,
                     producer: tuple[int, int, int] | None = None,
                     compression_type: str = "none") -> tuple[int, list[tuple[int, int]]]:
        """One PRODUCE_BATCH; ``gzip`` compresses the frame (the server stores records with
        the topic's codec, so ``lz4`` has nothing to do on the wire)."""
        if not records or not self._has(Op.PRODUCE_BATCH):
            return super().append_batch(topic, records)
        payload = m.ProduceBatchRequest.encode_records(topic, records, producer)
        flags = FLAG_BINARY
        if compression_type == "gzip":
            payload, flags = m.gzip_payload(payload), FLAG_BINARY | FLAG_GZIP
        reply = self._request(Op.PRODUCE_BATCH, payload, flags, topic=topic)
        timestamp, results = m.ProduceBatchResponse.decode_results(reply)
        if len(results) != len(records):
            raise ProtocolError(f"PRODUCE_BATCH answered {len(results)} results "
                                f"for {len(records)} records")
        return timestamp, results

    def init_producer_id(self) -> tuple[int, int] | None:
        if "idempotence" not in self._features or not self._has(Op.INIT_PRODUCER_ID):
            return None
        reply = self._call(Op.INIT_PRODUCER_ID, m.EmptyRequest())
        return reply.producer_id, reply.producer_epoch

    def produce_delayed(self, topic: str, value: bytes, delay_ms: int, *,
                        key: bytes | None = None, partition: int = -1,
                        headers: dict[str, str] | None = None) -> RecordMetadata:
        if not self._has(Op.PRODUCE_DELAYED_EX):
            if key or headers or partition >= 0:
                self._extension(Op.PRODUCE_DELAYED_EX, "produce_delayed with a key, headers "
                                "or a partition")
            return self._produce_like(Op.PRODUCE_DELAYED,
                                      m.ProduceDelayedRequest(topic, value, delay_ms), topic)
        r = self._call(Op.PRODUCE_DELAYED_EX, m.ProduceDelayedExRequest(
            topic, key or b"", value, partition, delay_ms, headers or {}), topic=topic)
        return DelayedRecordMetadata(r.topic, r.partition, r.offset, r.timestamp, r.key_size,
                                     r.value_size, r.delay_id, r.due_at)

    def cancel_delayed(self, delay_id: str) -> None:
        self._extension(Op.CANCEL_DELAYED_EX, "cancel_delayed")
        self._call(Op.CANCEL_DELAYED_EX, m.CancelDelayedRequest(delay_id))

    def list_delayed(self, topic: str, limit: int = 1000) -> tuple[int, list[dict[str, Any]]]:
        self._extension(Op.LIST_DELAYED, "list_delayed")
        r = self._call(Op.LIST_DELAYED, m.ListDelayedRequest(topic, limit), topic=topic)
        return r.pending, [{"id": e.delay_id, "topic": topic, "due_at": e.due_at}
                           for e in r.entries]


    def produce_with_ttl(self, topic: str, value: bytes, ttl_ms: int) -> RecordMetadata:
        return self._produce_like(Op.PRODUCE_WITH_TTL,
                                  m.ProduceWithTTLRequest(topic, value, ttl_ms), topic)

    def produce_with_schema(self, topic: str, value: bytes, schema_name: str, *,
                            version: int = 0) -> RecordMetadata:
        if version:
            self._extension(Op.PRODUCE_WITH_SCHEMA_EX, "produce_with_schema(version=...)")
            return self._produce_like(Op.PRODUCE_WITH_SCHEMA_EX, m.ProduceWithSchemaExRequest(
                topic, schema_name, version, b"", value, -1), topic, schema=schema_name)
        return self._produce_like(Op.PRODUCE_WITH_SCHEMA,
                                  m.ProduceWithSchemaRequest(topic, schema_name, value), topic,
                                  schema=schema_name)

    def produce_transactional(self, txn_id: str, topic: str, value: bytes) -> RecordMetadata:
        return self._produce_like(Op.PRODUCE_TX, m.ProduceTxRequest(txn_id, topic, value), topic)

    def _produce_like(self, op: Op, req: m.WireMessage, topic: str, **context: Any) -> RecordMetadata:
        reply = self._request(op, req.encode(), topic=topic, **context)
        return m.RecordMetadataResponse.decode_model(reply)

    # --- read ------------------------------------------------------------------------------------------
    def consume(self, topic: str, partition: int, offset: int) -> ConsumedMessage:
        reply = self._call(Op.CONSUME, m.ConsumeRequest(topic, partition, offset),
                           topic=topic, partition=partition, offset=offset)
        return ConsumedMessage(topic, partition, offset, reply.value, reply.key or None)

    def fetch(self, topic: str, partition: int = 0, offset: int = 0, max_messages: int = 10,
              filter: str = "", *, max_bytes: int | None = None,
              max_wait_ms: int = 0) -> FetchResult:
        """FETCH_EX on a flymq server (timestamps, headers, byte budget, long-poll);
        plain FETCH otherwise, which never waits."""
        ctx = {"topic": topic, "partition": partition, "offset": offset}
        if not self._has(Op.FETCH_EX):
            reply = self._call(Op.FETCH, m.FetchRequest(topic, partition, offset, max_messages,
                                                       filter), **ctx)
            return FetchResult(MessageList.from_columns([MessageColumns(
                topic, partition, [r.offset for r in reply.records],
                [r.value for r in reply.records], [r.key or None for r in reply.records])]),
                reply.next_offset)
        req = m.FetchExRequest(topic, partition, offset, max_messages, max_bytes or 0,
                               max(0, max_wait_ms), filter).encode()
        with self._lock:
            self._ensure()
            if max_wait_ms > 0:                 # the reply may legitimately take that long
                _set_timeout(self._sock, (self.config.request_timeout_ms + max_wait_ms) / 1000.0)
            try:
                frame = self._exchange(Op.FETCH_EX, req)
            finally:
                if max_wait_ms > 0 and self._sock is not None:
                    _set_timeout(self._sock, self.config.request_timeout_ms / 1000.0)
        with gc_paused():  # one headers dict per record that has headers
            reply = m.FetchExResponse.decode(_reply(Op.FETCH_EX, frame, ctx))
        timestamps, keys = reply.timestamps, reply.keys
        if 0 in timestamps:  # no timestamp on the wire
            timestamps = [ts or None for ts in timestamps]
        if b"" in keys:  # an empty key reads as no key
            keys = [k or None for k in keys]
        return FetchResult(MessageList.from_columns([MessageColumns(
            topic, partition, reply.offsets, reply.values, keys, timestamps, reply.headers)]),
            reply.next_offset)

    def wait_for_records(self, positions: Sequence[tuple[str, int, int]], timeout_s: float,
                         wake: threading.Event) -> list[tuple[str, int]] | None:
        """On a flymq server, long-polls watch the positions from a second connection (see
        :mod:`flymq.client.record_watch`), so a record wakes the caller at once; against an
        upstream server (no long-poll) this only waits."""
        if not positions or not self._has(Op.FETCH_EX):
            wake.wait(timeout_s)
            return None
        with self._lock:
            self._check_open()
            if self._watch is None:
                self._watch = RecordWatch(self._second_connection)
            watch = self._watch
        return watch.wait(positions, timeout_s, wake)

    def ready_partitions(self, positions: Sequence[tuple[str, int, int]]
                         ) -> list[tuple[str, int]] | None:
        """WAIT_RECORDS without waiting, on this connection (no thread hop)."""
        ready = self.wait_records(positions, 0)
        return None if ready is None else [positions[i][:2] for i in ready
                                           if 0 <= i < len(positions)]


    def wait_records(self, positions: Sequence[tuple[str, int, int]],
                     max_wait_ms: int) -> list[int] | None:
        """Long-poll every ``(topic, partition, offset)`` position in one request (flymq's
        WAIT_RECORDS): the indexes of those with a record at or past them, as soon as there
        is one, or [] after ``max_wait_ms``. None when the server lacks it."""
        if not self._has(Op.WAIT_RECORDS):
            return None
        req = m.WaitRecordsRequest(max_wait_ms, [m.WaitPosition(*p) for p in positions])
        with self._lock:
            self._ensure()
            _set_timeout(self._sock, (self.config.request_timeout_ms + max_wait_ms) / 1000.0)
            try:
                frame = self._exchange(Op.WAIT_RECORDS, req.encode())
            finally:
                if self._sock is not None:
                    _set_timeout(self._sock, self.config.request_timeout_ms / 1000.0)
        return m.WaitRecordsResponse.decode(_reply(Op.WAIT_RECORDS, frame, {})).ready

    def _second_connection(self) -> "TcpTransport":
        """Another connection to the server this one reached, logged in as the same user."""
        other = TcpTransport([self.servers[self._index]], self.config)
        if self._credentials is not None:
            other.authenticate(*self._credentials)
        return other

    def offsets(self, topic: str, partition: int) -> tuple[int, int]:
        if self._has(Op.LIST_OFFSETS):
            reply = self._call(Op.LIST_OFFSETS, m.ListOffsetsRequest(topic, partition, -1),
                               topic=topic, partition=partition)
            return reply.start_offset, reply.end_offset
        # upstream: SUBSCRIBE without a group has no side effects (§6.1.5)
        return (self.subscribe(topic, "", partition, "earliest"),
                self.subscribe(topic, "", partition, "latest"))

    def offset_for_timestamp(self, topic: str, partition: int, timestamp_ms: int) -> int:
        self._extension(Op.LIST_OFFSETS, "offset lookup by timestamp")
        reply = self._call(Op.LIST_OFFSETS, m.ListOffsetsRequest(topic, partition, timestamp_ms),
                           topic=topic, partition=partition)
        return reply.timestamp_offset if reply.timestamp_offset >= 0 else reply.end_offset

    # --- consumer groups ---------------------------------------------------------------------------------
    def subscribe(self, topic: str, group_id: str, partition: int = 0,
                  mode: str = "latest") -> int:
        req = m.SubscribeRequest(topic, group_id, partition, str(getattr(mode, "value", mode)))
        return self._call(Op.SUBSCRIBE, req, topic=topic, partition=partition).offset

    def commit_offset(self, topic: str, group_id: str, partition: int, offset: int) -> None:
        self._call(Op.COMMIT, m.CommitRequest(topic, group_id, partition, offset), topic=topic)

    def get_committed_offset(self, topic: str, group_id: str, partition: int = 0) -> int:
        return self._call(Op.GET_OFFSET, m.GroupPartitionRequest(topic, group_id, partition),
                          topic=topic, partition=partition).offset

    def reset_offset(self, topic: str, group_id: str, partition: int = 0,
                     mode: str = "earliest", offset: int | None = None) -> None:
        mode = str(getattr(mode, "value", mode))
        req = m.ResetOffsetRequest(topic, group_id, partition, mode,
                                   (offset or 0) if mode == "offset" else None)
        self._call(Op.RESET_OFFSET, req, topic=topic, partition=partition)

    def get_lag(self, topic: str, group_id: str, partition: int = 0) -> dict[str, int]:
        r = self._call(Op.GET_LAG, m.GroupPartitionRequest(topic, group_id, partition),
                       topic=topic, partition=partition)
        return {"current_offset": r.current_offset, "committed_offset": r.committed_offset,
                "latest_offset": r.latest_offset, "lag": r.lag}

    def list_consumer_groups(self, topic: str = "") -> list[dict]:
        groups = self._call(Op.LIST_GROUPS, m.EmptyRequest()).groups
        return [g.to_dict() for g in groups if not topic or g.topic == topic]

    def describe_consumer_group(self, topic: str, group_id: str) -> dict:
        return self._call(Op.DESCRIBE_GROUP, m.GroupRequest(topic, group_id),
                          topic=topic).to_dict()

    def delete_consumer_group(self, topic: str, group_id: str) -> None:
        self._call(Op.DELETE_GROUP, m.GroupRequest(topic, group_id), topic=topic)

    # --- [ext] group membership (0xC9-0xD1; "groups" in HELLO's features) -------------------
    def _group_call(self, op: Op, req: m.WireMessage) -> Any:
        self._extension(op, "consumer-group membership")
        return self._call(op, req)

    def join_group(self, group_id: str, member_id: str = "", *, client_id: str = "",
                   topics: Sequence[str] = (), strategies: Sequence[str] = ("range",),
                   session_timeout_ms: int = 30_000,
                   rebalance_timeout_ms: int = 300_000) -> JoinResult:
        reply = self._group_call(Op.GROUP_JOIN, m.GroupJoinRequest(
            group_id, member_id, client_id or self.config.client_id, list(topics),
            list(strategies), session_timeout_ms, rebalance_timeout_ms))
        return JoinResult(reply.member_id, reply.generation, reply.protocol, reply.leader,
                          reply.state)

    def sync_group(self, group_id: str, member_id: str,
                   generation: int) -> list[tuple[str, int]]:
        reply = self._group_call(Op.GROUP_SYNC,
                                 m.GroupMemberRequest(group_id, member_id, generation))
        return [(tp.topic, tp.partition) for tp in reply.partitions]

    def heartbeat(self, group_id: str, member_id: str, generation: int) -> None:
        self._group_call(Op.GROUP_HEARTBEAT, m.GroupMemberRequest(group_id, member_id,
                                                                  generation))

    def leave_group(self, group_id: str, member_id: str) -> None:
        self._group_call(Op.GROUP_LEAVE, m.GroupMemberRequest(group_id, member_id))

    def commit_group_offsets(self, group_id: str, offsets: Sequence[tuple[str, int, int]], *,
                             member_id: str = "", generation: int = -1) -> None:
        self._group_call(Op.GROUP_COMMIT, m.GroupCommitRequest(
            group_id, member_id, generation, [m.GroupOffset(*o) for o in offsets]))

    def fetch_group_offsets(self, group_id: str) -> dict[tuple[str, int], int]:
        reply = self._group_call(Op.GROUP_FETCH_OFFSETS, m.GroupIdRequest(group_id))
        return {(o.topic, o.partition): o.offset for o in reply.offsets}

    def list_groups(self) -> list[str]:
        return self._group_call(Op.GROUP_LIST, m.EmptyRequest()).group_ids

    def describe_group(self, group_id: str) -> dict:
        return self._group_call(Op.GROUP_DESCRIBE, m.GroupIdRequest(group_id)).group

    def delete_group(self, group_id: str) -> None:
        self._group_call(Op.GROUP_DELETE, m.GroupIdRequest(group_id))

    def server_info(self) -> dict:
        if self._has(Op.SERVER_INFO):
            return self._call(Op.SERVER_INFO, m.EmptyRequest()).info
        return {"server": "upstream FlyMQ", "address": f"{self.address[0]}:{self.address[1]}",
                "features": sorted(self._features)}

    # --- schemas ---------------------------------------------------------------------------------------
    def register_schema(self, name: str, schema_type: str, schema: bytes) -> int:
        return self._call(Op.REGISTER_SCHEMA, m.RegisterSchemaRequest(name, schema_type, schema),
                          schema=name).version

    def get_schema(self, name: str, version: int = 0) -> dict[str, Any]:
        r = self._call(Op.GET_SCHEMA, m.GetSchemaRequest(name, version), schema=name)
        return _schema_entry(r.name, r.schema_type, r.version) if r.version else {}

    def list_schemas(self, topic: str = "") -> list[dict[str, Any]]:
        return [_schema_entry(s.name, s.schema_type, s.version)
                for s in self._call(Op.LIST_SCHEMAS, m.ListSchemasRequest(topic)).schemas]

    def describe_schema(self, name: str, version: int = 0) -> SchemaInfo:
        """SCHEMA_DESCRIBE from a flymq server; from an upstream one, GET_SCHEMA's Go layout
        (which carries the definition too)."""
        if self._has(Op.SCHEMA_DESCRIBE):
            r = self._call(Op.SCHEMA_DESCRIBE, m.SchemaDescribeRequest(name, version),
                           schema=name)
            created: float | None = r.created_ms / 1000
        else:
            r = self._call(Op.GET_SCHEMA, m.GetSchemaRequest(name, version), schema=name)
            if not r.definition:
                raise UnsupportedOperationError(f"{self.address} does not return schema "
                                                "definitions")
            created = None
        return SchemaInfo(f"{r.name}-v{r.version}", r.name, SchemaType(r.schema_type),
                          r.version, r.definition.decode("utf-8"),
                          Compatibility(r.compatibility.lower() or "backward"),
                          None if created is None else
                          datetime.fromtimestamp(created, timezone.utc))

    def get_schema_compatibility(self, name: str = "") -> str:
        self._extension(Op.SCHEMA_COMPATIBILITY, "get_schema_compatibility")
        return self._call(Op.SCHEMA_COMPATIBILITY, m.SchemaCompatibilityRequest(name),
                          schema=name).mode

    def set_schema_compatibility(self, mode: str, name: str = "") -> str:
        self._extension(Op.SCHEMA_COMPATIBILITY, "set_schema_compatibility")
        return self._call(Op.SCHEMA_COMPATIBILITY,
                          m.SchemaCompatibilityRequest(name, str(getattr(mode, "value", mode))),
                          schema=name).mode

    def validate_schema(self, name: str, value: bytes) -> bool:
        return self._call(Op.VALIDATE_SCHEMA, m.ValidateSchemaRequest(name, value),
                          schema=name).valid

    def delete_schema(self, name: str, version: int) -> None:
        self._call(Op.DELETE_SCHEMA, m.DeleteSchemaRequest(name, version), schema=name)

    # --- transactions -----------------------------------------------------------------------------------
    def begin_transaction(self) -> str:
        r = self._call(Op.BEGIN_TX, m.EmptyRequest())
        if not r.txn_id or not r.success:
            raise TransactionError("the server refused to begin a transaction")
        return r.txn_id

    def commit_transaction(self, txn_id: str) -> None:
        self._end_transaction(Op.COMMIT_TX, txn_id, "committed")

    def abort_transaction(self, txn_id: str) -> None:
        self._end_transaction(Op.ABORT_TX, txn_id, "aborted")

    def _end_transaction(self, op: Op, txn_id: str, what: str) -> None:
        """The server answers an unknown or finished id with success 0 (wire spec §5.5)."""
        if not self._call(op, m.TxnRequest(txn_id)).success:
            raise TransactionNotActiveError(
                f"transaction {txn_id} could not be {what}: the server does not know it or "
                "it is no longer active")

    @property
    def picks_txn_ids(self) -> bool:
        return self._has(Op.PRODUCE_TX_BATCH)

    def produce_transactional_batch(self, txn_id: str, records: Sequence[tuple[str, bytes]],
                                    commit: bool = False, begin: bool = False) -> None:
        if not self._has(Op.PRODUCE_TX_BATCH):   # an upstream server: one call each
            super().produce_transactional_batch(txn_id, records, commit, begin)
            return
        self._request(Op.PRODUCE_TX_BATCH,
                      m.ProduceTxBatchRequest.encode_records(txn_id, commit, begin, records))

    def send_offsets_to_transaction(self, txn_id: str, group_id: str,
                                    offsets: Sequence[tuple[str, int, int]]) -> None:
        if not self._has(Op.TXN_OFFSET_COMMIT):
            raise not_supported("transactional offset commits")
        self._call(Op.TXN_OFFSET_COMMIT, m.TxnOffsetCommitRequest(
            txn_id, group_id, [m.TxnOffset(t, p, o) for t, p, o in offsets]))

    # --- dead-letter queue ----------------------------------------------------------------------------
    def fetch_dlq(self, topic: str, max_messages: int = 10, offset: int = 0
                  ) -> list[DLQMessage]:
        if not self._has(Op.FETCH_DLQ_EX):   # upstream: always from the DLQ's offset 0
            if offset:
                self._extension(Op.FETCH_DLQ_EX, "fetch_dlq from an offset")
            return [DLQMessage(e.id, topic, e.data, e.error, e.retries)
                    for e in self._call(Op.FETCH_DLQ, m.FetchDLQRequest(topic, max_messages),
                                        topic=topic).messages]
        r = self._call(Op.FETCH_DLQ_EX, m.FetchDLQExRequest(topic, offset, max_messages),
                       topic=topic)
        return [DLQMessage(
            e.id, e.original_topic, e.value, e.error, e.retries,
            local_time(e.last_failed_at),
            None if e.original_offset < 0 else e.original_offset, e.offset,
            None if e.original_partition < 0 else e.original_partition, e.key or None,
            dict(e.headers), e.reason) for e in r.entries]

    def dead_letter(self, topic: str, partition: int, offset: int, *,
                    reason: str = "processing_error", error: str = "", retry_count: int = 0,
                    first_failed_at: int | None = None) -> str:
        self._extension(Op.DEAD_LETTER, "dead_letter")
        return self._call(Op.DEAD_LETTER, m.DeadLetterRequest(
            topic, partition, offset, reason, error, retry_count, first_failed_at or 0),
            topic=topic, partition=partition, offset=offset).id

    def replay_dlq(self, topic: str, message_id: str) -> None:
        r = self._call(Op.REPLAY_DLQ, m.ReplayDLQRequest(topic, message_id), topic=topic)
        if not r.success:   # upstream's soft failure (wire spec §5.5)
            if r.message.startswith("message not found"):
                raise DeadLetterNotFoundError(topic, r.message[len("message not found"):])
            raise ServerError(r.message)


    def re_inject_dlq(self, topic: str, offset: int) -> bool:
        if not self.is_flymq_server:   # an upstream server misreads form B (§6.3.2, §9)
            raise UnsupportedOperationError("re_inject_dlq needs a flymq server")
        return self._call(Op.REPLAY_DLQ, m.ReplayDLQRequest(topic, offset=offset),
                          m.ReInjectDLQResponse, topic=topic).success

    def purge_dlq(self, topic: str) -> None:
        self._call(Op.PURGE_DLQ, m.TopicRequest(topic), topic=topic)

    # --- authentication ------------------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> AuthResponse:
        with self._lock:
            self._ensure()
            result = self._auth(username, password)
            self._credentials = (username, password)
        return result

    def _auth(self, username: str, password: str) -> AuthResponse:
        frame = self._exchange(Op.AUTH, m.AuthRequest(username, password).encode())
        r = m.AuthResponse.decode(_reply(Op.AUTH, frame, {}))
        if not r.success:
            raise AuthenticationError(r.error or "Authentication failed")
        return AuthResponse(True, None, r.username, list(r.roles))

    def whoami(self) -> WhoAmIResponse:
        r = self._call(Op.WHOAMI, m.EmptyRequest())
        return WhoAmIResponse(r.authenticated, r.username or None, list(r.roles),
                              list(r.permissions))


def _reply(op: Op, frame: Frame, context: dict[str, Any]) -> bytes:
    """The payload of a successful reply, or the error the frame carries."""
    expected = Op.AUTH_RESPONSE if op == Op.AUTH else op
    if frame.op == expected:
        return frame.payload
    if frame.op == Op.ERROR:
        raise error_from_wire(m.ErrorResponse.decode(frame.payload).message, **context)
    raise ProtocolError(f"unexpected reply opcode 0x{frame.op:02X} to request 0x{op:02X}")
