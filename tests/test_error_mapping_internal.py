"""Wire error text -> exception: server crashes stay ServerError, and only real "this server
lacks the operation" texts become UnsupportedOperationError (wire-protocol.md §3.3, §5.6)."""

from __future__ import annotations

import pytest

from flymq import FlyMQClient
from flymq.errors import (
    NotLeaderError, ServerError, TopicNotFoundError, UnsupportedOperationError, error_from_wire,
    wire_text,
)
from flymq.features import SERVED
from flymq.server.handlers import OPS

INTERNAL_TEXTS = [
    wire_text(TypeError("'<' not supported between instances of 'str' and 'int'")),
    wire_text(NotImplementedError("codec not supported")),
    wire_text(RuntimeError("not leader of anything")),
    wire_text(KeyError("topic not found: orders")),
    "internal error",
]


@pytest.mark.parametrize("text", INTERNAL_TEXTS)
def test_internal_errors_are_plain_server_errors(text: str) -> None:
    exc = error_from_wire(text)
    assert type(exc) is ServerError
    assert exc.message == str(exc) == exc.wire == text
    assert exc.hint is None


@pytest.mark.parametrize("text", ["unknown opcode: 80", "unknown opcode: 255",
                                  *sorted({t for t in OPS.refusals(SERVED).values()
                                          if "not supported" in t})])
def test_unsupported_operation_texts(text: str) -> None:
    exc = error_from_wire(text)
    assert type(exc) is UnsupportedOperationError and exc.message == text


@pytest.mark.parametrize("text", [
    "operation not supported on socket",
    "'<' not supported between instances of 'str' and 'int'",
    "unsupported compression codec",
    "unknown opcode: abc",
])
def test_other_not_supported_texts_are_not_unsupported_operations(text: str) -> None:
    exc = error_from_wire(text)
    assert not isinstance(exc, UnsupportedOperationError)
    assert isinstance(exc, ServerError) and exc.message == text


def test_specific_mappings_unchanged() -> None:
    assert type(error_from_wire("topic not found: orders")) is TopicNotFoundError
    assert type(error_from_wire("not leader: leader_addr=h:1")) is NotLeaderError


def test_server_crash_reaches_tcp_client_as_server_error(flymq_broker, flymq_server,
                                                         monkeypatch) -> None:
    """End to end: an unexpected TypeError in the broker arrives as a ServerError with its text."""
    def broken() -> list[str]:
        raise TypeError("'<' not supported between instances of 'str' and 'int'")

    monkeypatch.setattr(flymq_broker, "list_topics", broken)  # before the connection's
    with FlyMQClient(flymq_server) as client:                   # session binds it
        with pytest.raises(ServerError) as info:
            client.list_topics()
    assert type(info.value) is ServerError and info.value.hint is None
    assert str(info.value) == "internal error: TypeError: '<' not supported between instances " \
                              "of 'str' and 'int'"
