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
    ("$.a", None, b'{"a": NaN}', False),  # not JSON (Python reads it, Go does not)
    ("$.a", None, b'{"a": -Infinity}', False),
    ("$.a", None, b'{"a": 1e400}', False),  # beyond float64: an error in Go
    ("$.a", None, b'{"a": 1e300}', True),
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


@pytest.mark.timeout(10)
def test_a_huge_pattern_of_groups_stays_fast() -> None:
    """Groups made RE2 fall back to a slow matcher (0.8 s per value here): these 100
    searches would not end within the timeout; without groups they take milliseconds."""
    rule = compile_filter("(a|b)" * 1000)
    assert all(rule(None, b"a" * 5000) for _ in range(100))
    assert not rule(None, b"c" * 5000)


def fill(broker, values):
    broker.create_topic("f")
    for v in values:
        broker.produce("f", v)


@pytest.mark.timeout(30)
def test_a_filtered_fetch_reads_past_a_full_byte_budget_of_misses(tmp_path) -> None:
    from flymq.broker import Broker, BrokerConfig

    with Broker(tmp_path, BrokerConfig(fetch_max_bytes=64 * 1024)) as broker:
        fill(broker, [b"x" * 2000] * 999 + [b"NEEDLE"])   # 2 MB of misses, then the match
        got = broker.fetch("f", 0, 0, 10, "NEEDLE")
        assert [m.offset for m in got.messages] == [999] and got.next_offset == 1000


@pytest.mark.timeout(30)
def test_a_costly_filter_answers_early_and_goes_on_next_fetch(tmp_path, monkeypatch) -> None:
    """Past its time budget a filtered fetch answers with what it found; at least one record
    is examined each time, so a consumer always gets through."""
    from flymq.broker import Broker, partition

    monkeypatch.setattr(partition, "FILTER_TIME_BUDGET_S", 0.0)
    with Broker(tmp_path) as broker:
        fill(broker, [b"hit-%d" % i if i % 3 == 0 else b"miss" for i in range(12)])
        first = broker.fetch("f", 0, 0, 100, "hit")
        assert first.next_offset == 1 and [m.value for m in first.messages] == [b"hit-0"]
        offset, hits, fetches = 0, [], 0
        while offset < 12:
            result = broker.fetch("f", 0, offset, 100, "hit")
            assert result.next_offset > offset
            hits += [m.value for m in result.messages]
            offset, fetches = result.next_offset, fetches + 1
        assert hits == [b"hit-%d" % i for i in range(0, 12, 3)] and fetches == 12
