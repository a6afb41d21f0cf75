"""Byte-exact stand-ins for what the upstream SDKs send and how they parse replies.

Nothing here imports flymq: requests are packed by hand from the layouts in
``shared/spec/wire-protocol.md`` (which records what pyflymq, the Go SDK and the Java SDK put
on the wire), and replies are parsed with the same length checks, signedness and string
widths those SDKs use, so that a reply an SDK would choke on fails here too.

* :class:`PyFlyMQ` behaves like pyflymq's ``FlyMQClient._send_binary_request``: header flags
  0x01, a fresh buffered file object per request, its reply-header checks (magic, opcode must be
  in pyflymq's enum, version, 32 MiB), its ERROR decoding and its exception mapping.
* :class:`GoSDK` behaves like the Go SDK: reads exactly one frame from the raw connection,
  AUTH must be answered with 0x71 and WHOAMI with 0x72, and decodes with Go's checks.
"""

from __future__ import annotations

import gzip
import socket
import struct
from dataclasses import dataclass, field

MAGIC = 0xAF
VERSION = 0x01
FLAG_BINARY = 0x01
FLAG_GZIP = 0x02
MAX_PAYLOAD = 32 * 1024 * 1024
ERROR_OP = 0xFF

# Opcodes of pyflymq's OpCode enum (reply opcodes outside it make pyflymq raise ValueError).
PYFLYMQ_OPS = frozenset(
    list(range(0x01, 0x0A)) + list(range(0x10, 0x16)) + [0x20, 0x21, 0x22, 0x30, 0x31, 0x35]
    + list(range(0x40, 0x44)) + list(range(0x50, 0x54)) + list(range(0x60, 0x67))
    + [0x70, 0x71, 0x72, 0xA0, 0xA1, 0xFF])


# --- primitive packers (big-endian, as every SDK) --------------------------------------------

def s16(text: str | bytes) -> bytes:
    b = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack(">H", len(b)) + b


def s8(text: str) -> bytes:
    b = text.encode("utf-8")
    return struct.pack("B", len(b)) + b


def b32(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def header(op: int, length: int, flags: int = FLAG_BINARY) -> bytes:
    return struct.pack(">BBBBI", MAGIC, VERSION, op, flags, length)


# --- request payloads as the SDKs build them --------------------------------------------------

def produce_req(topic: str, value: bytes, key: bytes = b"", partition: int = -1) -> bytes:
    # pyflymq: key `key or b""`, partition -1 when not given
    return s16(topic) + b32(key) + b32(value) + struct.pack(">i", partition)


def consume_req(topic: str, partition: int, offset: int) -> bytes:
    return s16(topic) + struct.pack(">iQ", partition, offset)


def fetch_req(topic: str, partition: int, offset: int, max_messages: int,
              filter: str | None = "") -> bytes:
    """``filter=None``: the older pyflymq / Go SDK form without the trailing filter field."""
    body = s16(topic) + struct.pack(">iQi", partition, offset, max_messages)
    return body if filter is None else body + s16(filter)


def create_topic_req(topic: str, partitions: int) -> bytes:
    return s16(topic) + struct.pack(">i", partitions)


def topic_req(topic: str) -> bytes:
    return s16(topic)


def subscribe_req(topic: str, group: str, partition: int, mode: str) -> bytes:
    return s16(topic) + s16(group) + struct.pack(">i", partition) + s8(mode)


def commit_req(topic: str, group: str, partition: int, offset: int) -> bytes:
    return s16(topic) + s16(group) + struct.pack(">iQ", partition, offset)


def group_partition_req(topic: str, group: str, partition: int) -> bytes:
    return s16(topic) + s16(group) + struct.pack(">i", partition)


def reset_offset_req(topic: str, group: str, partition: int, mode: str, offset: int = 0,
                     *, always_offset: bool = False) -> bytes:
    """pyflymq/Go append the offset only for mode ``offset``; Java (``always_offset``) always."""
    body = s16(topic) + s16(group) + struct.pack(">i", partition) + s8(mode)
    if mode == "offset" or always_offset:
        body += struct.pack(">Q", offset)
    return body


def group_req(topic: str, group: str) -> bytes:
    return s16(topic) + s16(group)


def auth_req(user: str, password: str) -> bytes:
    return s16(user) + s16(password)


# --- errors, exactly as pyflymq maps them ------------------------------------------------------

class SdkError(Exception):
    pass


class ServerError(SdkError):
    """pyflymq ``ServerError(message)``."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotLeaderError(SdkError):
    def __init__(self, leader_id: str | None):
        super().__init__(leader_id)
        self.leader_id = leader_id


class AuthenticationError(SdkError):
    pass


def pyflymq_error_text(payload: bytes) -> tuple[int, str]:
    """pyflymq's ``decode_error_response``: (code, message)."""
    if len(payload) < 6:
        return 1, payload.decode("utf-8", errors="replace")
    code = struct.unpack(">I", payload[:4])[0]
    n = struct.unpack(">H", payload[4:6])[0]
    if len(payload) < 6 + n:
        return code, payload[6:].decode("utf-8", errors="replace")
    return code, payload[6:6 + n].decode("utf-8")      # strict, as pyflymq


def pyflymq_raise(message: str) -> None:
    """pyflymq's ``_handle_server_error``."""
    if "not leader" in message.lower():
        leader = None
        if "current leader is" in message:
            leader = message.split("current leader is")[-1].strip()
        raise NotLeaderError(leader)
    raise ServerError(message)


def go_error_text(payload: bytes) -> str:
    """Go SDK ``decodeError`` (spec §5.2): E-STRUCT when it fits, else the raw text."""
    if len(payload) >= 6:
        n = struct.unpack(">H", payload[4:6])[0]
        if 6 + n <= len(payload):
            return payload[6:6 + n].decode("utf-8", errors="replace")
    return payload.decode("utf-8", errors="replace")


# --- clients -----------------------------------------------------------------------------------

def _address(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host, int(port)


class PyFlyMQ:
    """pyflymq's request path over a real socket (one request in flight, lock-step)."""

    def __init__(self, addr: str, timeout: float = 4.0):
        self.sock = socket.create_connection(_address(addr), timeout=timeout)
        self.last_op: int | None = None
        self.last_flags: int | None = None

    def close(self) -> None:
        self.sock.close()

    def request(self, op: int, payload: bytes = b"", flags: int = FLAG_BINARY) -> bytes:
        f = self.sock.makefile("rwb")        # pyflymq makes a new buffered file per request
        try:
            f.write(header(op, len(payload), flags))
            if payload:
                f.write(payload)
            f.flush()
            head = f.read(8)
            if len(head) == 0:
                raise EOFError("Connection closed")
            if len(head) < 8:
                raise EOFError("Incomplete header")
            magic, version, rop, rflags, length = struct.unpack(">BBBBI", head)
            if magic != MAGIC:
                raise ValueError(f"Invalid magic byte 0x{magic:02X}")
            if rop not in PYFLYMQ_OPS:
                raise ValueError(f"Unknown operation code: 0x{rop:02X}")
            if version != VERSION:
                raise ValueError(f"Unsupported protocol version {version}")
            if length > MAX_PAYLOAD:
                raise ValueError("Message too large")
            body = f.read(length) if length else b""
            if len(body) < length:
                raise EOFError("Incomplete payload")
            self.last_op, self.last_flags = rop, rflags
            if rop == ERROR_OP:
                pyflymq_raise(pyflymq_error_text(body)[1])
            return body
        finally:
            f.close()

    def error(self, op: int, payload: bytes = b"", flags: int = FLAG_BINARY) -> str:
        """The ServerError text of a request that must fail; asserts the class mapping too."""
        try:
            self.request(op, payload, flags)
        except ServerError as exc:
            assert self.last_op == ERROR_OP
            return exc.message
        raise AssertionError(f"opcode 0x{op:02x} unexpectedly succeeded")


@dataclass
class Frame:
    op: int
    flags: int
    payload: bytes


class GoSDK:
    """The Go SDK's framing: WriteBinaryMessage (flags 0x01) + ReadMessage on the raw conn."""

    def __init__(self, addr: str, timeout: float = 4.0):
        self.sock = socket.create_connection(_address(addr), timeout=timeout)

    def close(self) -> None:
        self.sock.close()

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("unexpected EOF")
            buf += chunk
        return bytes(buf)

    def roundtrip(self, op: int, payload: bytes = b"", flags: int = FLAG_BINARY) -> Frame:
        self.sock.sendall(header(op, len(payload), flags) + payload)
        magic, version, rop, rflags, length = struct.unpack(">BBBBI", self._exact(8))
        assert magic == MAGIC, "invalid magic byte"
        assert version == VERSION, "invalid protocol version"
        assert length <= MAX_PAYLOAD, "message too large"
        return Frame(rop, rflags, self._exact(length) if length else b"")

    def produce_gzip(self, payload: bytes) -> Frame:
        """Go/Java SDK with compression "gzip": flags 0x03, the whole PRODUCE payload gzipped."""
        return self.roundtrip(0x01, gzip.compress(payload), FLAG_BINARY | FLAG_GZIP)


# --- reply decoders: pyflymq's checks -----------------------------------------------------------

@dataclass
class RecordMetadata:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key_size: int
    value_size: int


def py_record_metadata(data: bytes) -> RecordMetadata:
    if len(data) < 2:
        raise ValueError("Buffer too small")
    n = struct.unpack(">H", data[:2])[0]
    if len(data) < 2 + n + 28:
        raise ValueError("Buffer too small for RecordMetadata")
    topic = data[2:2 + n].decode("utf-8")
    part, off, ts, ks, vs = struct.unpack(">iQqii", data[2 + n:2 + n + 28])
    return RecordMetadata(topic, part, off, ts, ks, vs)


def py_consume(data: bytes) -> tuple[bytes, bytes]:
    if len(data) < 8:
        raise ValueError("Buffer too small")
    klen = struct.unpack(">I", data[:4])[0]
    key = data[4:4 + klen]
    p = 4 + klen
    if p + 4 > len(data):
        raise ValueError("truncated value length")
    vlen = struct.unpack(">I", data[p:p + 4])[0]
    return key, data[p + 4:p + 4 + vlen]


def py_fetch(data: bytes) -> tuple[list[tuple[int, bytes, bytes]], int]:
    if len(data) < 12:
        raise ValueError("Buffer too small")
    count, next_offset = struct.unpack(">IQ", data[:12])
    pos, msgs = 12, []
    for _ in range(count):
        if pos + 16 > len(data):
            raise ValueError("truncated message")
        off, klen = struct.unpack(">QI", data[pos:pos + 12])
        pos += 12
        key = data[pos:pos + klen]
        pos += klen
        if pos + 4 > len(data):
            raise ValueError("truncated value length")
        vlen = struct.unpack(">I", data[pos:pos + 4])[0]
        pos += 4
        msgs.append((off, key, data[pos:pos + vlen]))
        pos += vlen
    return msgs, next_offset


def py_bool(data: bytes) -> bool:
    if len(data) < 1:
        raise ValueError("Buffer too small")
    return data[0] == 1


def py_u64(data: bytes) -> int:
    if len(data) < 8:
        raise ValueError("Buffer too small")
    return struct.unpack(">Q", data[:8])[0]


def py_list_topics(data: bytes) -> list[str]:
    if len(data) < 4:
        raise ValueError("Buffer too small")
    count, pos, out = struct.unpack(">I", data[:4])[0], 4, []
    for _ in range(count):
        if pos + 2 > len(data):
            raise ValueError("truncated topic length")
        n = struct.unpack(">H", data[pos:pos + 2])[0]
        pos += 2
        if pos + n > len(data):
            raise ValueError("truncated topic")
        out.append(data[pos:pos + n].decode("utf-8"))
        pos += n
    return out


def py_lag(data: bytes) -> dict[str, int]:
    if len(data) < 32:
        raise ValueError("Buffer too small")
    c, m, l, lag = struct.unpack(">QQQQ", data[:32])
    return {"current_offset": c, "committed_offset": m, "latest_offset": l, "lag": lag}


def _py_group(data: bytes, pos: int) -> tuple[dict, int]:
    """One group entry with pyflymq's bounds checks; partitions decoded as **u32**."""
    if pos + 2 > len(data):
        raise ValueError("Invalid binary format")
    tlen = struct.unpack(">H", data[pos:pos + 2])[0]
    pos += 2
    if pos + tlen + 2 > len(data):
        raise ValueError("Invalid binary format")
    topic = data[pos:pos + tlen].decode("utf-8")
    pos += tlen
    glen = struct.unpack(">H", data[pos:pos + 2])[0]
    pos += 2
    if pos + glen + 8 > len(data):
        raise ValueError("Invalid binary format")
    gid = data[pos:pos + glen].decode("utf-8")
    pos += glen
    members, ocount = struct.unpack(">II", data[pos:pos + 8])
    pos += 8
    offsets = []
    for _ in range(ocount):
        if pos + 12 > len(data):
            raise ValueError("Invalid binary format")
        part, off = struct.unpack(">IQ", data[pos:pos + 12])
        pos += 12
        offsets.append({"partition": part, "offset": off})
    return {"topic": topic, "group_id": gid, "members": members, "offsets": offsets}, pos


def py_list_groups(data: bytes) -> list[dict]:
    if len(data) < 4:
        raise ValueError("Buffer too small")
    count, pos, out = struct.unpack(">I", data[:4])[0], 4, []
    for _ in range(count):
        g, pos = _py_group(data, pos)
        out.append(g)
    return out


def py_describe_group(data: bytes) -> dict:
    if len(data) < 8:
        raise ValueError("Buffer too small")
    return _py_group(data, 0)[0]


class _Seq:
    """pyflymq's unchecked sequential reads (struct.error on a short reply, like pyflymq)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        v = struct.unpack(fmt, self.data[self.pos:self.pos + size])[0]
        self.pos += size
        return v

    def text(self, n: int) -> str:
        v = self.data[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return v

    def s16(self) -> str:
        return self.text(self.take(">H"))

    def s8(self) -> str:
        return self.text(self.take("B"))


@dataclass
class AuthReply:
    success: bool
    username: str
    roles: list[str]
    error: str


def py_auth(data: bytes) -> AuthReply:
    if len(data) < 1:
        raise ValueError("Buffer too small")
    r = _Seq(data)
    ok = r.take("B") == 1
    user = r.s16()
    roles = [r.s8() for _ in range(r.take(">I"))]          # roles are str8 here
    err = r.s16()
    return AuthReply(ok, user, roles, err)


@dataclass
class WhoAmIReply:
    authenticated: bool
    username: str
    roles: list[str]
    permissions: list[str]


def py_whoami(data: bytes) -> WhoAmIReply:
    if len(data) < 1:
        raise ValueError("Buffer too small")
    r = _Seq(data)
    ok = r.take("B") == 1
    user = r.s16()
    roles = [r.s16() for _ in range(r.take(">I"))]         # str16 here
    perms = [r.s16() for _ in range(r.take(">I"))]
    return WhoAmIReply(ok, user, roles, perms)


@dataclass
class PartitionMeta:
    partition: int
    leader_id: str
    leader_addr: str
    epoch: int
    state: str
    replicas: list[str] = field(default_factory=list)
    isr: list[str] = field(default_factory=list)


def py_cluster_metadata(data: bytes) -> tuple[str, dict[str, list[PartitionMeta]]]:
    r = _Seq(data)
    cluster_id = r.s16()
    topics: dict[str, list[PartitionMeta]] = {}
    for _ in range(r.take(">I")):
        name = r.s16()
        parts = []
        for _ in range(r.take(">I")):
            part = r.take(">I")                                # pyflymq: unsigned
            lid, laddr, epoch, state = r.s16(), r.s16(), r.take(">Q"), r.s16()
            replicas = [r.s16() for _ in range(r.take(">I"))]
            isr = [r.s16() for _ in range(r.take(">I"))]
            parts.append(PartitionMeta(part, lid, laddr, epoch, state, replicas, isr))
        topics[name] = parts
    assert r.pos == len(data), "trailing bytes after CLUSTER_METADATA reply"
    return cluster_id, topics


# --- reply decoders: the Go SDK's checks ---------------------------------------------------------

def go_auth(data: bytes) -> AuthReply:
    """Go ``DecodeBinaryAuthResponse`` (also used by the Go SDK for WHOAMI replies)."""
    if len(data) < 9:
        raise ValueError("buffer too small")
    off = 1
    ok = data[0] == 1
    ulen = struct.unpack(">H", data[off:off + 2])[0]
    off += 2
    if off + ulen + 6 > len(data):
        raise ValueError("invalid binary format")
    user = data[off:off + ulen].decode("utf-8", errors="replace")
    off += ulen
    count = struct.unpack(">I", data[off:off + 4])[0]
    off += 4
    roles = []
    for _ in range(count):
        if off >= len(data):
            raise ValueError("invalid binary format")
        n = data[off]
        off += 1
        if off + n > len(data):
            raise ValueError("invalid binary format")
        roles.append(data[off:off + n].decode("utf-8", errors="replace"))
        off += n
    if off + 2 > len(data):
        raise ValueError("invalid binary format")
    elen = struct.unpack(">H", data[off:off + 2])[0]
    off += 2
    if off + elen > len(data):
        raise ValueError("invalid binary format")
    return AuthReply(ok, user, roles, data[off:off + elen].decode("utf-8", errors="replace"))


def go_record_metadata(data: bytes) -> RecordMetadata:
    if len(data) < 2:
        raise ValueError("buffer too small")
    n = struct.unpack(">H", data[:2])[0]
    if len(data) < 2 + n + 28:
        raise ValueError("buffer too small")
    part, off, ts, ks, vs = struct.unpack(">iQqii", data[2 + n:30 + n])
    return RecordMetadata(data[2:2 + n].decode(), part, off, ts, ks, vs)


def go_describe_group(data: bytes) -> dict:
    """Go ``DecodeBinaryDescribeGroupResponse``: same checks as pyflymq, partitions int32."""
    g = py_describe_group(data)
    for o in g["offsets"]:
        o["partition"] = struct.unpack(">i", struct.pack(">I", o["partition"]))[0]
    return g
