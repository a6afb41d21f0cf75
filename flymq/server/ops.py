"""How the FlyMQ v1 server answers each opcode: one registration per opcode.

A registration carries everything the dispatcher needs to know about an opcode: the codec that
decodes its request, the handler that calls the broker, whether that call may wait on the disk
(it then runs on a worker thread), which of its requests are CPU-heavy (they run on a CPU
worker thread, so the event loop keeps serving other connections), whether it appends (its
reply waits for durability and may join a group commit), and the optional feature it belongs
to (:mod:`flymq.features`).
Handlers register with a decorator, next to their code::

    @op(Op.COMMIT, m.CommitRequest, disk=True)
    def _commit(d, conn, req): ...

Opcodes of features this server does not serve yet register with :meth:`OpTable.later`: they
are answered with a clear refusal instead of "unknown opcode", until a handler for them lands
and the feature joins ``flymq.features.SERVED``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Collection, NamedTuple, TypeVar

from flymq.features import not_supported
from flymq.protocol import Op, reply_op

if TYPE_CHECKING:
    from flymq.broker.appends import Durability
    from flymq.server.connection import Connection
    from flymq.server.flymq_v1 import FlyMQv1

#: ``handler(dispatcher, connection, request) -> response``: a message with ``encode()``, a
#: future of reply bytes (long poll), or for an append a :class:`Produced`.
Handler = Callable[["FlyMQv1", "Connection", Any], Any]
H = TypeVar("H", bound=Handler)


class Produced(NamedTuple):
    """What an append's handler returns: the reply payload, and when the appended records
    are durable (the append did not wait, so that the event loop never waits on an fsync)."""

    payload: bytes
    durability: "Durability"


class Registration(NamedTuple):
    """What the server knows about one opcode."""

    op: Op
    request: Any
    """The request codec: ``request.decode(payload)`` gives what the handler takes."""
    handler: Handler | None
    """None for an opcode of a feature that is not implemented yet."""
    reply_op: int
    """The opcode of a successful reply (``flymq.protocol.reply_op``)."""
    disk: bool = False
    """The broker call may wait on the disk (a metadata fsync): it runs on a worker thread."""
    produce: bool = False
    """An append: the handler returns a :class:`Produced`; its reply waits for durability and
    may share a group commit with the appends pipelined behind it."""
    feature: str | None = None
    """The optional feature (``flymq.features``) this opcode belongs to; None = always served."""
    refusal: str | None = None
    """The answer while ``feature`` is not served; None = "<feature> is not supported yet"."""
    cpu: Callable[[Any], bool] | None = None
    """``cpu(request)``: whether this request is CPU-heavy (a filtered fetch evaluates its
    filter on up to a scan limit of records); it then runs on a CPU worker thread. Its
    handler must then return a message, never a future."""


class OpTable(dict[int, Registration]):
    """Every registration of a protocol, by opcode; an opcode registers once."""

    def op(self, op: Op, request: Any, *, disk: bool = False, produce: bool = False,
           feature: str | None = None, cpu: Callable[[Any], bool] | None = None
           ) -> Callable[[H], H]:
        """Decorator: the decorated function handles ``op``, whose requests ``request``
        decodes (stack it to serve several opcodes with one handler)."""
        def register(handler: H) -> H:
            self._add(Registration(op, request, handler, reply_op(op), disk, produce, feature,
                                   cpu=cpu))
            return handler
        return register

    def later(self, feature: str, *ops: Op | int, refusal: str | None = None) -> None:
        """Opcodes of ``feature``, which has no handler yet: refused, not unknown."""
        for op in ops:
            self._add(Registration(Op(op), None, None, reply_op(op), feature=feature,
                                   refusal=refusal))

    def _add(self, registration: Registration) -> None:
        if registration.op in self:
            raise ValueError(f"opcode 0x{registration.op:02x} is registered twice")
        self[int(registration.op)] = registration

    def served(self, features: Collection[str]) -> dict[int, Registration]:
        """The registrations a broker serving ``features`` answers, by opcode (plain ints:
        frames carry ints)."""
        served = {}
        for op, reg in self.items():
            if reg.feature is None or reg.feature in features:
                if reg.handler is None:
                    raise ValueError(f"feature {reg.feature!r} is served but opcode "
                                     f"0x{op:02x} has no handler")
                served[op] = reg
        return served

    def refusals(self, features: Collection[str]) -> dict[int, str]:
        """The error text of every registered opcode a broker serving ``features`` refuses."""
        return {op: reg.refusal or not_supported(reg.feature).wire
                for op, reg in self.items()
                if reg.feature is not None and reg.feature not in features}
