"""Retries and dead-letter routing for consumers (docs/dead-letters.md).

A message whose processing fails (the handler raised, or the application called ``nack``) is
handed out again once ``retry_backoff_ms`` of the consumer's clock have passed, with
``message.retry_count`` one higher: iteration waits for it before any later message, ``poll()``
returns it first in a later poll. After ``max_retries`` retries a nack copies it into its
topic's dead-letter queue (``T.dlq``, through ``FlyMQClient.dead_letter``, which copies the
stored record: value, key, headers and TTL) with the reason, the last error and the attempt
count, and the consumer moves on. ``dead_letter(message, reason)`` routes it at once.

Backoffs are read on the consumer's clock, never slept, so a test's ``ManualClock`` (the
broker's, for an embedded client) makes a retry due by moving.

Delivery is at-least-once: the consumer commits a message's position only after its last
attempt (a commit stops before a message still waiting for its retry), so a crash during the
retries or between the dead-letter write and the commit processes (or dead-letters) the
message again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from flymq.clock import SYSTEM_CLOCK, Clock
from flymq.dead_letter_records import REASONS
from flymq.errors import InvalidRequestError

if TYPE_CHECKING:
    from flymq.client.client import FlyMQClient
    from flymq.models import ConsumedMessage

log = logging.getLogger("flymq.dead_letters")

_Position = tuple[str, int, int]   # topic, partition, offset


def _position(message: "ConsumedMessage") -> _Position:
    return message.topic, message.partition, message.offset


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {value!r}")


class DeadLetterRouter:
    """The retry state of one consumer: which messages failed, and when each is due again."""

    def __init__(self, client: "FlyMQClient", max_retries: int = 3, backoff_ms: int = 100,
                 clock: Clock = SYSTEM_CLOCK):
        _check_count("max_retries", max_retries)
        _check_count("retry_backoff_ms", backoff_ms)
        self._client = client
        self.max_retries = max_retries
        self.backoff_ms = backoff_ms
        self._clock = clock
        # nacked, not handed out again yet -> (due in now_ms() time, the next attempt)
        self._retries: dict[_Position, tuple[int, "ConsumedMessage"]] = {}

    def now_ms(self) -> int:
        """The clock's monotonic time in whole ms: due times compare exactly however a
        ManualClock was moved (float seconds added in steps differ in the last bits)."""
        return round(self._clock.monotonic() * 1000)

    def deliveries(self, message: "ConsumedMessage", wait: Callable[[int], bool]
                   ) -> Iterator["ConsumedMessage"]:
        """``message``, and again (retry_count + 1) each time it was nacked, once
        ``wait(due_ms)`` says its backoff has passed (False: the consumer closed)."""
        where = _position(message)
        try:
            yield message
            while (retry := self._retries.get(where)) is not None:
                if not wait(retry[0]):
                    return   # still pending while the closing consumer commits: held back
                del self._retries[where]
                yield retry[1]
        finally:
            self._retries.pop(where, None)   # an iteration given up drops its retry, as before

    def due(self, limit: int) -> list["ConsumedMessage"]:
        """Up to ``limit`` nacked messages whose backoff has passed, in due order, for
        ``poll()`` to hand out again (they are no longer pending)."""
        if not self._retries:
            return []
        now = self.now_ms()
        ready = sorted((due, where) for where, (due, _) in list(self._retries.items())
                       if due <= now)[:limit]
        return [self._retries.pop(where)[1] for _, where in ready]

    def held(self, tp: tuple[str, int], position: int) -> int:
        """``position``, or the offset of ``tp``'s earliest message still waiting for its retry
        if lower: a commit never passes a message that is to be processed again."""
        for topic, partition, offset in list(self._retries):
            if offset < position and (topic, partition) == tp:
                position = offset
        return position

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Drop the pending retries of partitions given up: their next owner reads those
        messages again from the committed position, which :meth:`held` kept before them."""
        gone = set(partitions)
        for where in [w for w in self._retries if w[:2] in gone]:
            del self._retries[where]

    def nack(self, message: "ConsumedMessage", error: str = "") -> None:
        """Processing ``message`` failed: hand it out again after the backoff, or, after
        ``max_retries`` retries, route it to the dead-letter queue now."""
        where = _position(message)
        if message.retry_count >= self.max_retries:
            self._retries.pop(where, None)
            self._route(message, "max_retries_exceeded", str(error), message.retry_count)
            return
        self._retries[where] = (self.now_ms() + self.backoff_ms,
                                message.with_retry_count(message.retry_count + 1))

    def dead_letter(self, message: "ConsumedMessage", reason: str = "manual",
                    error: str = "") -> str:
        """Route ``message`` to its dead-letter queue now (no retry of it follows); the id."""
        if reason not in REASONS:
            raise InvalidRequestError(f"invalid dead-letter reason: {reason!r}",
                                      hint=f"Use one of {', '.join(REASONS)}.")
        self._retries.pop(_position(message), None)
        return self._route(message, reason, error, message.retry_count)

    def _route(self, message: "ConsumedMessage", reason: str, error: str, retries: int) -> str:
        entry = self._client.dead_letter(message.topic, message.partition, message.offset,
                                         reason=reason, error=error, retry_count=retries)
        log.info("%s/%d@%d went to the dead-letter queue (%s, %d retries): %s", message.topic,
                 message.partition, message.offset, reason, retries, error)
        return entry


def process(messages: Iterable["ConsumedMessage"], handler: Callable[["ConsumedMessage"], Any],
            router: DeadLetterRouter) -> None:
    """Call ``handler`` on each message of ``messages`` (a consumer's iteration, whose
    deliveries go through ``router``) until the iteration ends (the consumer closed); an
    exception from the handler nacks the message."""
    for message in messages:
        try:
            handler(message)
        except Exception as exc:  # noqa: BLE001 - a failing handler is what a retry is for
            router.nack(message, f"{type(exc).__name__}: {exc}")
