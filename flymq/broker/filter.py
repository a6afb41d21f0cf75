"""FETCH's server-side filter (wire spec §7.6): a record matches when any rule holds.

1. JSON path: the filter starts with ``$.``, the value is a JSON object and every dotted name
   after ``$.`` exists along nested objects.
2. Substring: the lower-cased filter occurs in the lower-cased value or key (as text).
3. Regular expression: the filter (not starting with ``$.``) compiles; unanchored search in
   the value or key bytes. A filter that does not compile simply has no regex rule.

A filter is compiled once into a predicate and cached, since consumers repeat the same filter on
every fetch.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Callable

Predicate = Callable[[bytes | None, bytes], bool]

_JSON_PREFIX = "$."


def _as_lower_text(data: bytes) -> str:
    return data.decode("utf-8", "replace").lower()


def _substring_rule(needle: str) -> Predicate:
    if needle.isascii():
        # ASCII needles can be matched on bytes; only non-ASCII data needs decoding.
        raw = needle.encode("ascii")

        def contains(data: bytes) -> bool:
            if data.isascii():
                return raw in data.lower()
            return needle in _as_lower_text(data)
    else:
        def contains(data: bytes) -> bool:
            return needle in _as_lower_text(data)

    def rule(key: bytes | None, value: bytes) -> bool:
        return contains(value) or (key is not None and contains(key))
    return rule


def _regex_rule(text: str) -> Predicate | None:
    try:
        pattern = re.compile(text.encode("utf-8"))
    except (re.error, UnicodeEncodeError, OverflowError, RecursionError):
        return None
    search = pattern.search

    def rule(key: bytes | None, value: bytes) -> bool:
        return search(value) is not None or (key is not None and search(key) is not None)
    return rule


def _json_path_rule(path: str) -> Predicate:
    names = path.split(".")

    def rule(key: bytes | None, value: bytes) -> bool:
        if not value or value[0] != 0x7B:  # '{'
            return False
        try:
            node = json.loads(value)
        except ValueError:
            return False
        for name in names:
            if not isinstance(node, dict) or name not in node:
                return False
            node = node[name]
        return True
    return rule


@functools.lru_cache(maxsize=256)
def compile_filter(text: str) -> Predicate | None:
    """The predicate for ``text``; None for the empty filter (every record matches)."""
    if not text:
        return None
    rules = [_substring_rule(text.lower())]
    if text.startswith(_JSON_PREFIX):
        rules.append(_json_path_rule(text[len(_JSON_PREFIX):]))
    else:
        regex = _regex_rule(text)
        if regex is not None:
            rules.append(regex)
    if len(rules) == 1:
        return rules[0]
    first, second = rules

    def any_rule(key: bytes | None, value: bytes) -> bool:
        return first(key, value) or second(key, value)
    return any_rule
