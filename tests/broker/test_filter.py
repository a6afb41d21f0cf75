"""FETCH filter rules (wire spec §7.6)."""

from __future__ import annotations

import pytest

from flymq.broker.filter import compile_filter

CASES = [
    # filter, key, value, matches
    ("", None, b"anything", True),
    ("error", None, b"an ERROR happened", True),
    ("ERROR", None, b"an error happened", True),
    ("error", b"Error-key", b"nothing", True),
    ("error", None, b"fine", False),
    ("ÜBER", None, "über alles".encode(), True),
    ("k", None, "\u212a".encode(), True),  # KELVIN SIGN lower-cases to 'k'
    ("^ord", None, b"order-1", True),
    ("^ord", b"order", b"x", True),
    ("^ord", None, b"an order", False),
    (r"\d{3}", None, b"id 123", True),
    ("[unclosed", None, b"has [unclosed text", True),  # substring still applies
    ("[unclosed", None, b"other", False),  # invalid regex: no regex rule, no error
    ("$.user.id", None, b'{"user": {"id": 5}}', True),
    ("$.user.id", None, b'{"user": {"id": null}}', True),
    ("$.user.id", None, b'{"user": {"name": 5}}', False),
    ("$.user.id", None, b'{"user": 5}', False),
    ("$.user", None, b'[{"user": 1}]', False),  # not an object
    ("$.user", None, b"{not json", False),
    ("$.user", None, b"", False),
    ("$.a", None, b"text mentioning $.a", True),  # substring rule still applies
    ("$.a+", None, b"aaa", False),  # no regex rule for $. filters
    ("\xff", None, b"\xff", False),  # value bytes decode as U+FFFD, not U+00FF
    ("$.a", None, b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", False),  # too deep
]


@pytest.mark.parametrize("text,key,value,matches", CASES)
def test_filter_rules(text: str, key: bytes | None, value: bytes, matches: bool) -> None:
    predicate = compile_filter(text)
    if not text:
        assert predicate is None
        return
    assert predicate(key, value) is matches


def test_compiled_filters_are_cached() -> None:
    assert compile_filter("abc") is compile_filter("abc")


@pytest.mark.timeout(10)
def test_a_backtracking_pattern_runs_in_linear_time() -> None:
    """With a backtracking engine this search would not end within the timeout."""
    predicate = compile_filter("(a+)+$")
    value = b"a" * 100_000 + b"!"
    assert predicate(None, value) is False
    assert predicate(None, b"aaa") is True


@pytest.mark.parametrize("text", [r"(?=x)x", r"(a)\1", r"(?<!y)x"])
def test_what_go_regexp_refuses_has_no_regex_rule(text: str) -> None:
    """Upstream filters are Go regular expressions (RE2 syntax): no lookaround, no
    backreferences. Such a filter only keeps its substring rule, as upstream."""
    predicate = compile_filter(text)
    assert predicate(None, b"x axx") is False
    assert predicate(None, f"has {text} in it".encode()) is True
