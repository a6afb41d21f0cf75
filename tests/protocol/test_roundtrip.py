"""Round trips for every message class, and robustness against short or garbage payloads.

Strategies are derived from each class's declared wire fields, so a new message class is
covered as soon as it is registered.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from flymq import protocol as m
from flymq.errors import InvalidRequestError
from flymq.protocol.codec import FieldType, Message

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

_text = st.text(max_size=12)
_PRIMS: dict[str, st.SearchStrategy] = {
    "u8": st.integers(0, 0xFF), "bool": st.booleans(), "u16": st.integers(0, 0xFFFF),
    "i32": st.integers(-2**31, 2**31 - 1), "u32": st.integers(0, 2**32 - 1),
    "i64": st.integers(-2**63, 2**63 - 1), "u64": st.integers(0, 2**64 - 1),
    "str8": _text, "str16": _text, "text32": _text, "bytes32": st.binary(max_size=24),
    "rest": st.binary(max_size=24),
    "map32": st.dictionaries(_text, _text, max_size=3),
    "map16": st.dictionaries(_text, _text, max_size=3),
    "json32": st.dictionaries(_text, st.integers() | _text, max_size=3),
}


def for_field(ft: FieldType) -> st.SearchStrategy:
    kind = ft.spec[0]
    if kind in _PRIMS:
        return _PRIMS[kind]
    if kind in ("list32", "list16"):
        return st.lists(for_field(ft.spec[1]), max_size=3)
    if kind in ("nested", "sized"):
        return for_class(ft.spec[1])
    if kind == "optional":
        return for_field(ft.spec[1])
    raise AssertionError(f"no strategy for {ft!r}")


# classes whose constructor is not just their wire fields
_SPECIAL: dict[type, st.SearchStrategy] = {
    m.ErrorResponse: st.builds(m.ErrorResponse, st.text(max_size=40)),
    m.FetchResponse: st.builds(m.FetchResponse, st.lists(
        st.builds(m.FetchRecord, _PRIMS["u64"], _PRIMS["bytes32"], _PRIMS["bytes32"]),
        max_size=4), _PRIMS["u64"]),
    m.FetchExResponse: st.builds(
        lambda nxt, hw, start, rows: m.FetchExResponse(nxt, hw, start, *map(list, zip(*rows)))
        if rows else m.FetchExResponse(nxt, hw, start, [], [], [], [], []),
        _PRIMS["u64"], _PRIMS["u64"], _PRIMS["u64"], st.lists(st.tuples(
            _PRIMS["u64"], st.integers(-2**63, 2**63 - 1), st.none() | _PRIMS["bytes32"],
            _PRIMS["bytes32"], st.none() | _PRIMS["map32"]), max_size=4)),
    m.ReplayDLQRequest: st.one_of(
        st.builds(m.ReplayDLQRequest, _text, _text),
        st.builds(lambda t, o: m.ReplayDLQRequest(t, offset=o), _text, st.integers(0, 2**47))),
    m.GetSchemaResponse: st.builds(m.GetSchemaResponse, _text, _text, st.integers(1, 2**32 - 1)),
    # an empty schema name in Go order is also an exact pyflymq-order payload (§6.2.5)
    m.ProduceWithSchemaRequest: st.builds(m.ProduceWithSchemaRequest, _text,
                                          st.text(min_size=1, max_size=12), _PRIMS["bytes32"]),
}


def for_class(cls: type[Message]) -> st.SearchStrategy:
    if cls in _SPECIAL:
        return _SPECIAL[cls]
    wire = dict(cls.WIRE)
    return st.builds(cls, **{f.name: for_field(wire[f.name]) for f in dataclasses.fields(cls)
                             if f.name in wire})


ALL = sorted({*m.REQUESTS.values(), *m.RESPONSES.values(), m.ErrorResponse,
              m.ReInjectDLQResponse}, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_round_trip(cls: type[Message]) -> None:
    @SETTINGS
    @given(for_class(cls))
    def check(msg: Any) -> None:
        assert cls.decode(msg.encode()) == msg
    check()


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_truncated_payloads_raise_invalid_request(cls: type[Message]) -> None:
    @SETTINGS
    @given(for_class(cls))
    def check(msg: Any) -> None:
        payload = msg.encode()
        for cut in range(len(payload)):
            try:
                cls.decode(payload[:cut])
            except InvalidRequestError as exc:
                assert str(exc).split("\n")[0].startswith(("buffer too small",
                                                           "invalid binary format"))
    check()


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_garbage_never_raises_anything_else(cls: type[Message]) -> None:
    @SETTINGS
    @given(st.binary(max_size=64))
    def check(payload: bytes) -> None:
        try:
            cls.decode(payload)
        except InvalidRequestError:
            pass
    check()


def test_short_payload_says_buffer_too_small() -> None:
    with pytest.raises(InvalidRequestError, match="^buffer too small"):
        m.ProduceRequest.decode(b"\x00" * 13)
    with pytest.raises(InvalidRequestError, match="^invalid binary format"):
        m.ProduceRequest.decode(b"\x00\x20" + b"\x00" * 12)      # topic length overruns


def test_invalid_utf8_is_rejected_clearly() -> None:
    bad = m.ProduceRequest("x", b"", b"v").encode().replace(b"\x00\x01x", b"\x00\x01\xff", 1)
    with pytest.raises(InvalidRequestError, match="UTF-8"):
        m.ProduceRequest.decode(bad)
    with pytest.raises(InvalidRequestError, match="UTF-8"):
        m.SubscribeRequest.decode(b"\x00\x01\xc3" + b"\x00\x00" + b"\x00" * 4 + b"\x00")


def test_absurd_list_count_rejected_without_allocating() -> None:
    with pytest.raises(InvalidRequestError, match="^invalid binary format"):
        m.ListTopicsResponse.decode(b"\xff\xff\xff\xff")


def test_strings_too_long_for_their_prefix() -> None:
    with pytest.raises(InvalidRequestError, match="too long"):
        m.SubscribeRequest("t", "g", 0, "x" * 256).encode()
    with pytest.raises(InvalidRequestError, match="too long"):
        m.ProduceRequest("t" * 65536, b"", b"").encode()


def test_registries_cover_every_request_with_a_response() -> None:
    assert set(m.REQUESTS) == set(m.RESPONSES)
    assert all(isinstance(op, m.Op) for op in m.REQUESTS)
