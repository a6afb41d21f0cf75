"""FETCH's server-side filter (wire spec §7.6): a record matches when any rule holds.

1. JSON path: the filter starts with ``$.``, the value is a JSON object and every dotted name
   after ``$.`` exists along nested objects.
2. Substring: the lower-cased filter occurs in the lower-cased value or key (as text).
3. Regular expression: the filter (not starting with ``$.``) compiles; unanchored search in
   the value or key bytes. A filter that does not compile simply has no regex rule.

Regular expressions run on RE2 (``google-re2``): its syntax is that of Go's ``regexp``, which
upstream's broker uses, and its matching time is linear, so no filter a client sends can keep a
broker thread busy for long (Python's ``re`` backtracks: ``(a+)+$`` on a long value would run
for ages). Where no google-re2 wheel exists (not CPython), Python's ``re`` stands in.

A filter is compiled once into a predicate and cached, since consumers repeat the same filter on
every fetch.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Callable

try:
    import re2
except ImportError:  # pragma: no cover - only where google-re2 has no wheel
    re2 = None

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


def _compile_re2(pattern: bytes):
    options = re2.Options()
    options.log_errors = False  # a bad filter is the client's business, not the broker log's
    options.never_capture = True  # a filter only asks "does it match": groups cost a slow
    # matcher (a 5,000-character pattern of groups took 12 s per fetch, 5 ms without them)
    return re2.compile(pattern, options)


def _regex_rule(text: str) -> Predicate | None:
    compile_, errors = ((_compile_re2, re2.error) if re2 is not None else (re.compile, re.error))
    try:
        pattern = compile_(text.encode("utf-8"))
    except (errors, UnicodeEncodeError, OverflowError, RecursionError, ValueError):
        return None
    search = pattern.search

    def rule(key: bytes | None, value: bytes) -> bool:
        return search(value) is not None or (key is not None and search(key) is not None)
    return rule


def _not_json(name: str) -> float:
    """NaN and Infinity, which Python's json reads but JSON (and Go, upstream) does not."""
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number; one beyond float64 (1e400) is an error, as in Go."""
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"number out of range: {text}")
    return number


def _json_path_rule(path: str) -> Predicate:
    names = path.split(".")

    def rule(key: bytes | None, value: bytes) -> bool:
        if not value or value[0] != 0x7B:  # '{'
            return False
        try:
            node = json.loads(value, parse_constant=_not_json, parse_float=_finite_float)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
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
