"""FlyMQ binary protocol v1 as a wire protocol of the connection layer: frame decoding, the
opcode dispatch and the PRODUCE fast path.

Where a call runs is decided here, from the opcode's registration (:mod:`flymq.server.ops`),
so the event loop never waits on the disk: calls that may fsync (topic and group metadata
writes, an append that creates its topic) run on a worker thread; CPU-heavy requests (a
compressed frame, whose inflating and appending may cost a 32 MiB record; a filtered fetch)
run on a CPU worker thread, so they never hold up other connections; everything else runs
inline, which is the fast path. Appends never wait inline: under ``fsync=always`` their
replies are held until durable (:class:`~flymq.server.connection.HeldReply`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

from flymq import protocol as m
from flymq.broker.appends import DURABLE, NOT_WAITING, new_request
from flymq.broker.messages import columns
from flymq.errors import (FlyMQError, FrameTooLargeError, InvalidMagicError, InvalidVersionError,
                          TopicNotFoundError, wire_text)
from flymq.protocol import (CODEC_MASK, HEADER_SIZE, MAX_PAYLOAD, Frame, FrameDecoder, Op,
                            encode_frame, error_frame, frame_payload)
from flymq.server.connection import HeldReply, LimitExceeded, Reply
from flymq.server.handlers import OPS
from flymq.server.ops import Registration

if TYPE_CHECKING:
    from flymq.broker.appends import Durability
    from flymq.broker.session import Session
    from flymq.server.connection import Connection
    from flymq.server.listener import Listener

log = logging.getLogger("flymq.server")

PRODUCE = int(Op.PRODUCE)
_decode_produce = m.ProduceRequest.decode_fields   # the PRODUCE fast path's two lookups less
_pack_rm_tail = m.pack_record_metadata_tail   # (partition, offset, timestamp, key, value size)


class FlyMQv1:
    """The FlyMQ v1 protocol of one listener (one instance serves all its connections)."""

    def __init__(self, server: "Listener"):
        self.server = server
        self.broker = server.broker
        self.loop = server.loop
        self.node_id = server.config.node_id or socket.gethostname()
        features = self.broker.features
        self._served = OPS.served(features)
        self.served_ops = sorted(self._served)
        # refusals as ready frames: their text never changes
        self._refused = {op: error_frame(text) for op, text in OPS.refusals(features).items()}
        self._known_topics: set[str] = set()
        self._reply_prefix: dict[str, bytes] = {}

    # --- the connection layer's interface ---------------------------------------------------

    def new_decoder(self) -> FrameDecoder:
        return FrameDecoder()

    def whole_frame(self, conn: "Connection", data: bytes) -> Reply | None:
        """A request that arrived as exactly one whole frame, answered without a frame list
        or a queue; a PRODUCE without even slicing its payload out of ``data``."""
        head = conn.decoder.one_frame(data)
        if head is None:
            return None
        op, flags = head
        if op == PRODUCE and not flags & CODEC_MASK:
            return self.produce_payload(conn, data, HEADER_SIZE)
        return self.dispatch(conn, Frame(op, flags, data[HEADER_SIZE:]))

    def dispatch(self, conn: "Connection", frame: Frame) -> Reply:
        """Reply bytes; a held reply for an append that must become durable first; or a
        future of reply bytes (a call on a worker thread, a long-poll fetch)."""
        op = frame.op
        if op == PRODUCE and not frame.flags & CODEC_MASK:
            return self.produce_payload(conn, frame.payload, 0)
        reg = self._served.get(op)
        if reg is None:
            return self._refused.get(op) or error_frame(f"unknown opcode: {op}")
        if frame.flags & CODEC_MASK:
            return self._compressed(conn, reg, frame)
        try:
            req = reg.request.decode(frame.payload)
            if reg.disk or (reg.produce and self._creates_topic(conn.session, req.topic)):
                return self.server.in_worker(self.call, conn, reg, req)
            if reg.cpu is not None and reg.cpu(req):
                return self.server.in_cpu_worker(self.call, conn, reg, req)
            reply = reg.handler(self, conn, req)
            if reg.produce:
                return _when_durable(encode_frame(reg.reply_op, reply.payload), reply.durability)
            if isinstance(reply, asyncio.Future):  # a long poll
                return reply
            return encode_frame(reg.reply_op, reply.encode())
        except Exception as exc:
            return self.fail(op, exc)

    def joins_group_commit(self, frame: Frame) -> bool:
        reg = self._served.get(frame.op)
        return reg is not None and reg.produce

    def framing_error_reply(self, conn: "Connection", exc: Exception) -> bytes:
        """§3.3: bad magic closes silently; bad version / oversize say why, then close; so
        does a connection closed for a limit of the connection layer."""
        if isinstance(exc, LimitExceeded):
            return error_frame(str(exc))
        if isinstance(exc, InvalidVersionError):
            return error_frame("invalid protocol version")
        if isinstance(exc, FrameTooLargeError):
            return error_frame("message too large")
        if not isinstance(exc, InvalidMagicError):
            log.warning("framing error from %s: %s", conn.peer, exc)
        return b""

    @staticmethod
    def error_reply(exc: Exception) -> bytes:
        """The ERROR frame of ``exc``: its wire text (``flymq.errors``)."""
        return error_frame(wire_text(exc))

    # --- PRODUCE, the most frequent request -------------------------------------------------

    def produce_payload(self, conn: "Connection", buf: bytes, start: int) -> Reply:
        """PRODUCE of the uncompressed payload at ``buf[start:]`` with fewer steps than
        :meth:`dispatch`: no request or reply objects, a cached reply prefix per topic. The
        fast path passes a whole received frame and the header size, so the payload is never
        sliced out."""
        try:
            topic, key, value, partition = _decode_produce(buf, start)
            session = conn.session
            if topic not in self._known_topics and self._creates_topic(session, topic):
                return self.server.in_worker(self.call, conn, OPS[PRODUCE],
                                             m.ProduceRequest(topic, key, value, partition))
            result = session.append(new_request((topic, ((key or None, value, partition),))
                                                + NOT_WAITING))
            partition, offset = result.placements[0]
            reply = (self._reply_prefix.get(topic) or self._new_reply_prefix(topic)) \
                + _pack_rm_tail(partition, offset, result.timestamp,
                                len(key) if key else -1, len(value))
            durability = result.durability
            if durability is DURABLE:  # the usual case, answered without another call
                return reply
            return _when_durable(reply, durability)
        except Exception as exc:
            return self.fail(Op.PRODUCE, exc)

    def _compressed(self, conn: "Connection", reg: Registration, frame: Frame) -> Reply:
        """A compressed frame: inflated (at most to the frame limit) on a CPU worker thread,
        where an append also runs (a 32 KB frame may carry a 32 MiB record); any other
        request is then answered as usual."""
        if reg.produce:
            return self.server.in_cpu_worker(self._call_inflated, conn, reg, frame)
        return asyncio.ensure_future(self._dispatch_inflated(conn, frame))

    def _call_inflated(self, conn: "Connection", reg: Registration, frame: Frame) -> bytes:
        try:
            req = reg.request.decode(frame_payload(frame))
        except Exception as exc:
            return self.fail(reg.op, exc)
        return self.call(conn, reg, req)

    async def _dispatch_inflated(self, conn: "Connection", frame: Frame) -> bytes:
        try:
            payload = await self.server.in_cpu_worker(frame_payload, frame)
        except Exception as exc:
            return self.fail(frame.op, exc)
        reply = self.dispatch(conn, Frame(frame.op, frame.flags & ~CODEC_MASK, payload))
        return reply if type(reply) is bytes else await reply  # no append: never held

    def _new_reply_prefix(self, topic: str) -> bytes:
        if len(self._reply_prefix) >= 10_000:  # topics come and go: keep the cache bounded
            self._reply_prefix.clear()
        prefix = self._reply_prefix[topic] = m.RecordMetadataResponse.frame_prefix(topic)
        return prefix

    def _creates_topic(self, session: "Session", topic: str) -> bool:
        """Whether an append to ``topic`` would auto-create it (metadata is fsynced, so that
        append runs on a worker thread).

        Known names are cached: a topic deleted later costs speed only (its re-creation
        runs inline once), never correctness.
        """
        if topic in self._known_topics:
            return False
        try:
            session.partition_count(topic)
        except TopicNotFoundError:
            return True
        self._known_topics.add(topic)
        return False

    # --- shared by handlers -----------------------------------------------------------------

    def call(self, conn: "Connection", reg: Registration, req: Any) -> bytes:
        """Run a handler and encode its reply or error, on a worker thread; an append also
        waits here for its durability."""
        try:
            reply = reg.handler(self, conn, req)
            if not reg.produce:
                return encode_frame(reg.reply_op, reply.encode())
            reply.durability.wait()
            return encode_frame(reg.reply_op, reply.payload)
        except Exception as exc:
            return self.fail(reg.op, exc)

    @staticmethod
    def fail(op: int, exc: Exception) -> bytes:
        """The ERROR frame for ``exc``; an unexpected exception is logged (a server bug)."""
        if not isinstance(exc, FlyMQError):
            log.exception("unexpected error handling opcode 0x%02x", op)
        return FlyMQv1.error_reply(exc)

    def fetch_ex_now(self, session: "Session", req: m.FetchExRequest,
                     offset: int) -> m.FetchExResponse:
        """The reply to ``req`` from ``offset``, never larger than a frame: the byte budget
        counts values only, so tiny records are capped by count as well."""
        budget = min(req.max_bytes or self.broker.config.fetch_max_bytes, MAX_PAYLOAD // 2)
        most = m.FetchExResponse.most_records(budget)
        runs, next_offset = session.fetch_runs(req.topic, req.partition, offset,
                                               min(req.max_messages, most), req.filter,
                                               max_bytes=budget)
        start, end = session.offsets(req.topic, req.partition)
        return m.FetchExResponse(next_offset, end, start, *columns(runs))


def _when_durable(reply: bytes, durability: "Durability") -> bytes | HeldReply:
    """``reply`` now if its appends are as durable as their policy promises (always so
    except under ``fsync=always``), else held until they are."""
    if durability.done():
        return reply
    return HeldReply(reply, durability.wait)
