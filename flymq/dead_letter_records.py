"""The dead-letter record: what a DLQ entry holds and how it is stored.

The dead-letter queue of topic ``T`` is the topic ``T.dlq`` (partition 0); each record value is
a JSON object in upstream's layout (wire-protocol.md §7.13: ``id``, ``original_topic``,
``original_offset``, ``payload`` in base64, ``reason``, ``error_message``, ``retry_count``,
``first_failed_at``, ``last_failed_at`` in RFC 3339, optional ``headers``) plus flymq's keys
``original_partition``, ``key`` (base64) and ``expire_at`` (ms, the original's TTL). Shared by
the broker, which writes and reads entries, and the client, which decodes them.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone
from typing import Any

from flymq.models import DLQMessage

DLQ_SUFFIX = ".dlq"
REASONS = ("max_retries_exceeded", "validation_failed", "processing_error", "expired", "manual")


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return topic + DLQ_SUFFIX


def entry_id(topic: str, offset: int, now_ns: int) -> str:
    """An entry id in upstream's form ``<topic>-<offset>-<unix-nanos>``."""
    return f"{topic}-{offset}-{now_ns}"


def local_time(ms: int) -> datetime:
    """A failure time in ms since the epoch as ``DLQMessage.timestamp`` holds it."""
    return datetime.fromtimestamp(ms / 1000)


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def _ms(text: Any) -> int | None:
    try:
        return round(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def encode_entry(*, id: str, topic: str, partition: int, offset: int, key: bytes | None,
                 value: bytes, headers: dict[str, str] | None, reason: str, error: str,
                 retry_count: int, first_failed_at: int, last_failed_at: int,
                 expire_at: int | None) -> bytes:
    """The stored JSON of one entry (times in ms since the epoch)."""
    doc: dict[str, Any] = {
        "id": id, "original_topic": topic, "original_partition": partition,
        "original_offset": offset, "payload": base64.b64encode(value).decode(),
        "reason": reason, "error_message": error, "retry_count": retry_count,
        "first_failed_at": _rfc3339(first_failed_at), "last_failed_at": _rfc3339(last_failed_at),
    }
    if key:
        doc["key"] = base64.b64encode(key).decode()
    if headers:
        doc["headers"] = dict(headers)
    if expire_at is not None:
        doc["expire_at"] = expire_at
    return json.dumps(doc, separators=(",", ":")).encode()


def decode_entry(value: bytes) -> dict[str, Any] | None:
    """The entry a stored value holds, with ``payload``/``key`` decoded to bytes; None when
    it is not a DLQ entry (upstream skips such records too)."""
    try:
        doc = json.loads(value)
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            return None
        doc["payload"] = base64.b64decode(doc.get("payload") or "", validate=True)
        doc["key"] = base64.b64decode(doc["key"], validate=True) if doc.get("key") else None
    except (ValueError, TypeError, binascii.Error):
        return None
    headers = doc.get("headers")
    doc["headers"] = {str(k): str(v) for k, v in headers.items()} \
        if isinstance(headers, dict) else {}
    return doc


def to_message(doc: dict[str, Any], dlq_offset: int) -> DLQMessage:
    """The public model of a decoded entry stored at ``dlq_offset``."""
    last = _ms(doc.get("last_failed_at"))
    return DLQMessage(
        id=doc["id"], topic=str(doc.get("original_topic", "")), data=doc["payload"],
        error=str(doc.get("error_message", "")), retries=int(doc.get("retry_count") or 0),
        timestamp=local_time(last) if last is not None else datetime.now(),
        original_offset=doc.get("original_offset"), offset=dlq_offset,
        original_partition=doc.get("original_partition"), key=doc["key"],
        headers=doc["headers"], reason=str(doc.get("reason", "")))
