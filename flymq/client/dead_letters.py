"""Retries and dead-letter routing for consumers (docs/dead-letters.md).

A message whose processing fails (the handler raised, or the application called ``nack``) is
handed out again at once, with ``message.retry_count`` one higher, before any later message;
after ``max_retries`` retries it is copied into its topic's dead-letter queue (``T.dlq``,
through ``FlyMQClient.dead_letter``, which copies the stored record: value, key, headers and
TTL) with the reason, the last error and the attempt count, and the consumer moves on.
``dead_letter(message, reason)`` routes it at once.

Delivery is at-least-once: the consumer commits a message's position only after its last
attempt, so a crash during the retries or between the dead-letter write and the commit
processes (or dead-letters) the message again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from flymq.dead_letter_records import REASONS
from flymq.errors import InvalidRequestError

if TYPE_CHECKING:
    from flymq.client.client import FlyMQClient
    from flymq.models import ConsumedMessage

log = logging.getLogger("flymq.dead_letters")

_Position = tuple[str, int, int]   # topic, partition, offset


def _position(message: "ConsumedMessage") -> _Position:
    return message.topic, message.partition, message.offset


class DeadLetterRouter:
    """The retry state of one consumer: which message failed, how often and why."""

    def __init__(self, client: "FlyMQClient", max_retries: int = 3):
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0; got {max_retries!r}")
        self._client = client
        self.max_retries = max_retries
        self._failed: dict[_Position, tuple[str, str]] = {}   # -> (reason, error) of the last
        self._routed: set[_Position] = set()                   # sent to the DLQ: no more tries

    def deliveries(self, message: "ConsumedMessage") -> Iterator["ConsumedMessage"]:
        """``message``, and again (retry_count + 1) each time it was nacked, up to
        ``max_retries`` retries; then it goes to the dead-letter queue."""
        where = _position(message)
        try:
            for attempt in range(self.max_retries + 1):
                yield message.with_retry_count(attempt)
                if where in self._routed or where not in self._failed:
                    return
                if attempt < self.max_retries:
                    self._failed.pop(where)
            reason, error = self._failed.pop(where)
            self._route(message, "max_retries_exceeded" if reason == "processing_error"
                        else reason, error, self.max_retries)
        finally:
            self._failed.pop(where, None)
            self._routed.discard(where)

    def nack(self, message: "ConsumedMessage", error: str = "") -> None:
        """Processing ``message`` failed: hand it out again (or dead-letter it)."""
        self._failed[_position(message)] = ("processing_error", str(error))

    def dead_letter(self, message: "ConsumedMessage", reason: str = "manual",
                    error: str = "") -> str:
        """Route ``message`` to its dead-letter queue now; the entry id."""
        if reason not in REASONS:
            raise InvalidRequestError(f"invalid dead-letter reason: {reason!r}",
                                      hint=f"Use one of {', '.join(REASONS)}.")
        self._routed.add(_position(message))
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
