"""Topic-name rules (wire spec §6.1.3) and the name -> directory-name encoding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from flymq.broker.topic_dirs import MAX_DIRNAME_CHARS, topic_dirname, topic_from_dirname
from flymq.errors import InvalidRequestError, InvalidTopicNameError
from flymq.topic_names import topic_name_problem, validate_topic_name

VALID = [
    "orders", "a", "sensors/kitchen/temp", "orders.dlq", "__consumer_offsets", "with space",
    "ümlaut/日本", "a-b_c.d", ".hidden", "a/.b/c..", "x" * 249, "é" * 124, "emoji🎉",
    "%41", "~tilde", "UPPER/lower",
]
INVALID = [
    "", "x" * 250, "é" * 125, "a\x00b", "tab\there", "new\nline", "del\x7f", "c1\x85",
    "back\\slash", "plus+", "hash#", "/leading", "trailing/", "a//b", "/", ".", "..",
    "a/./b", "a/../b", "../escape", "lone\ud800surrogate",
]


@pytest.mark.parametrize("name", VALID)
def test_valid_names_are_accepted(name: str) -> None:
    assert topic_name_problem(name) is None
    validate_topic_name(name)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_names_are_refused_with_the_wire_text(name: str) -> None:
    with pytest.raises(InvalidTopicNameError) as info:
        validate_topic_name(name)
    assert info.value.wire == f"invalid topic name: {name}"
    assert isinstance(info.value, InvalidRequestError)
    assert info.value.reason


@pytest.mark.parametrize("name", VALID)
def test_dirname_round_trips_and_is_one_safe_component(name: str) -> None:
    dirname = topic_dirname(name)
    assert "/" not in dirname and "\\" not in dirname and not dirname.startswith(".")
    assert len(dirname) <= MAX_DIRNAME_CHARS
    if "~" not in dirname:
        assert topic_from_dirname(dirname) == name


def test_slash_and_case_map_to_distinct_dirnames() -> None:
    assert topic_dirname("a/b") == "a%2Fb"
    assert topic_dirname("a%2Fb") == "a%252%46b"
    assert topic_dirname(".x") == "%2Ex"
    assert topic_dirname("Orders") == "%4Frders"
    assert len({topic_dirname(n).lower() for n in VALID}) == len(VALID)  # even ignoring case


def test_long_names_are_shortened_with_a_hash() -> None:
    a, b = "日" * 83, "日" * 82 + "本"
    assert len(a.encode()) == 249
    da, db = topic_dirname(a), topic_dirname(b)
    assert "~" in da and "~" in db and da != db
    assert len(da) <= MAX_DIRNAME_CHARS
    assert topic_from_dirname(da) is None


@pytest.mark.parametrize("dirname", ["", ".x", "a%2", "a%zz", "a/b", "%2E%2E", "a%2fb", "a+b",
                                     "%FF", "x~y", "Orders"])
def test_foreign_dirnames_do_not_decode(dirname: str) -> None:
    assert topic_from_dirname(dirname) is None


@settings(max_examples=400, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_any_string_is_refused_or_stays_inside_the_data_dir(name: str) -> None:
    """Also: the encoding is injective even under case folding (checked pairwise below)."""
    root = Path("/srv/flymq/topics")
    try:
        validate_topic_name(name)
    except InvalidTopicNameError:
        return
    dirname = topic_dirname(name)
    path = Path(os.path.normpath(root / dirname))
    assert path.parent == root and path.name == dirname
    assert dirname not in (".", "..") and "/" not in dirname and "\x00" not in dirname
    assert len(dirname.encode()) <= 255
    if "~" not in dirname:
        assert topic_from_dirname(dirname) == name


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_different_names_never_share_a_directory_even_ignoring_case(a: str, b: str) -> None:
    if a == b or topic_name_problem(a) or topic_name_problem(b):
        return
    assert topic_dirname(a).lower() != topic_dirname(b).lower()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=90), min_size=1, max_size=4, unique=True))
def test_real_directories_round_trip_through_a_reopen(names: list[str]) -> None:
    import tempfile

    from flymq.broker import Broker, BrokerConfig

    valid = sorted({n for n in names if topic_name_problem(n) is None})
    with tempfile.TemporaryDirectory() as tmp:
        with Broker(tmp, BrokerConfig(fsync="never")) as b:
            for name in valid:
                b.create_topic(name)
        topics = Path(tmp) / "topics"
        assert sorted(os.listdir(topics)) == sorted(topic_dirname(n) for n in valid)
        assert all((topics / d).is_dir() for d in os.listdir(topics))
        with Broker(tmp, BrokerConfig(fsync="never")) as b:
            assert sorted(b._by_name) == valid
