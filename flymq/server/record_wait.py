"""WAIT_RECORDS: a consumer's long-poll over all its partitions, as a future of its reply.

One request names every position an idle consumer waits on; the reply comes as soon as any of
them has a record (or the deadline passes), listing which. The consumer then fetches only
those: one round trip while idle instead of one long-poll per partition in turn.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from flymq import protocol as m
from flymq.errors import FlyMQError
from flymq.protocol import Op, encode_frame
from flymq.server.long_poll import WatchedReply

if TYPE_CHECKING:
    from flymq.broker.session import Session
    from flymq.server.flymq_v1 import FlyMQv1

#: Longest wait a request may ask for: a client widens its socket timeout by as much.
MAX_WAIT_MS = 60_000


def ready_positions(session: "Session", req: m.WaitRecordsRequest) -> list[int]:
    """Indexes of the positions with a record at or past them. A position past the log end
    (the topic was re-created) or whose partition is gone counts as ready too, so that the
    consumer fetches there and learns where to go."""
    ready = []
    for i, p in enumerate(req.positions):
        try:
            if session.offsets(p.topic, p.partition)[1] != p.offset:
                ready.append(i)
        except FlyMQError:
            ready.append(i)
    return ready


def record_wait(d: "FlyMQv1", session: "Session", req: m.WaitRecordsRequest) -> WatchedReply:
    """WAIT_RECORDS: answered with the positions that are ready once any one is."""
    return WatchedReply(d.loop, session, [(p.topic, p.partition, p.offset) for p in req.positions],
                        min(req.max_wait_ms, MAX_WAIT_MS) / 1000,
                        partial(_wait_records_reply, d, session, req))


def _wait_records_reply(d: "FlyMQv1", session: "Session", req: m.WaitRecordsRequest) -> bytes:
    try:
        return encode_frame(Op.WAIT_RECORDS,
                            m.WaitRecordsResponse(ready_positions(session, req)).encode())
    except Exception as exc:
        return d.fail(Op.WAIT_RECORDS, exc)
