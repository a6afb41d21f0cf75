"""Topic-name rules (wire spec §6.1.3): which names a broker accepts.

The broker enforces them on every request; the client checks them too where it must raise the
broker's error itself (a topic that is not a ``str`` cannot be encoded), without loading the
broker. How a valid name is stored on disk is the broker's affair
(:mod:`flymq.broker.topic_dirs`).
"""

from __future__ import annotations

import unicodedata

from flymq.errors import InvalidTopicNameError

MAX_TOPIC_BYTES = 249
_FORBIDDEN = {"\\": "'\\'", "+": "'+' (reserved for patterns)", "#": "'#' (reserved for patterns)"}


def topic_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid topic name, or None when it is."""
    if not isinstance(name, str):
        return "not a string"
    if not name:
        return "empty"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if size > MAX_TOPIC_BYTES:
        return f"{size} bytes of UTF-8, more than {MAX_TOPIC_BYTES}"
    for ch in name:
        if ch in _FORBIDDEN:
            return f"contains {_FORBIDDEN[ch]}"
        if unicodedata.category(ch) == "Cc":
            return f"contains control character U+{ord(ch):04X}"
    if name.startswith("/") or name.endswith("/"):
        return "starts or ends with '/'"
    for level in name.split("/"):
        if not level:
            return "has an empty level"
        if level in (".", ".."):
            return f"has a '{level}' level"
    return None


def validate_topic_name(name: str) -> None:
    """Raise :class:`InvalidTopicNameError` unless ``name`` follows the rules."""
    problem = topic_name_problem(name)
    if problem is not None:
        raise InvalidTopicNameError(name if isinstance(name, str) else repr(name), problem)
