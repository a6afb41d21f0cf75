"""Every exception in flymq.errors survives pickling (multiprocessing, result caches, copy).

The classes are discovered from ``flymq.errors.__all__`` and built from their signatures, so
a new class is covered without touching this file (unless it adds a new parameter name).
"""

from __future__ import annotations

import copy
import inspect
import pickle

import pytest

import flymq.errors as E

# Representative values by constructor parameter name; optional ones are used in "full" mode.
VALUES: dict[str, object] = {
    "message": "boom", "host": "db.local", "port": 9092, "op_code": 0x01, "topic": "orders",
    "reason": "empty level", "partition": 3, "style": "out of range", "size": 40_000_000,
    "max_size": 33_554_432, "producer_id": 7, "where": "orders/0", "expected": 3, "received": 5,
    "offset": 42, "start": 10, "end": 20, "group_id": "billing", "txn_id": "tx-1",
    "schema_name": "user", "errors": ["missing required field: id", "unexpected field: x"],
    "leader_id": "node-2", "leader_addr": "10.0.0.2:9092", "servers": ["a:9092", "b:9092"],
    "log": "orders-0", "detail": "EIO", "path": "/data/orders-0/0.log", "position": 128,
    "wire": "custom wire text", "hint": "a custom hint",
    "delay_id": "dly-7", "state": "not found", "what": " at offset 4",
    "problems": ["$.id: type narrowed"], "version": 2,
    "member_id": "billing-1", "generation": 3, "current": 4, "offered": "range, sticky",
    "members": 2,
}

EXCEPTIONS = [obj for name in E.__all__
              if isinstance(obj := getattr(E, name), type) and issubclass(obj, BaseException)]


class PrivateServerSide(E.TopicNotFoundError, E.ServerError):
    """The ``class _X(Specific, ServerError)`` pattern the spec suggests (§9.3)."""


def build(cls: type[BaseException], full: bool) -> BaseException:
    """``cls`` built with its required arguments, plus every optional one we know if ``full``."""
    try:
        params = inspect.signature(cls).parameters.values()
    except ValueError:                          # Exception.__init__ itself (ProtocolError)
        return cls(VALUES["message"])
    args: list[object] = []
    kwargs: dict[str, object] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        elif p.default is p.empty or (full and p.name in VALUES):
            value = VALUES[p.name]              # KeyError: add the new parameter to VALUES
            if p.kind is p.KEYWORD_ONLY:
                kwargs[p.name] = value
            else:
                args.append(value)
    return cls(*args, **kwargs)


def test_discovery_finds_the_whole_hierarchy() -> None:
    assert len(EXCEPTIONS) >= 40
    assert {E.OffsetOutOfRangeError, E.PartitionNotFoundError, E.ConsumerGroupNotFoundError,
            E.SchemaValidationError, E.TimeoutError, E.InvalidMagicError} <= set(EXCEPTIONS)


@pytest.mark.parametrize("full", [False, True], ids=["required-args", "all-args"])
@pytest.mark.parametrize("cls", [*EXCEPTIONS, PrivateServerSide], ids=lambda c: c.__name__)
def test_round_trips_through_pickle(cls: type[BaseException], full: bool) -> None:
    exc = build(cls, full)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        clone = pickle.loads(pickle.dumps(exc, protocol=protocol))
        assert type(clone) is cls
        assert str(clone) == str(exc)
        assert clone.args == exc.args
        assert getattr(clone, "hint", None) == getattr(exc, "hint", None)
        assert clone.__dict__ == exc.__dict__


def test_extra_attributes_and_copies_survive() -> None:
    exc = E.OffsetOutOfRangeError("orders", 42, partition=1, start=10, end=20)
    exc.add_note("while replaying")
    for clone in (pickle.loads(pickle.dumps(exc)), copy.copy(exc), copy.deepcopy(exc)):
        assert (clone.topic, clone.offset, clone.partition, clone.start, clone.end) == \
            ("orders", 42, 1, 10, 20)
        assert clone.wire == "EOF" and clone.hint == exc.hint
        assert clone.__notes__ == ["while replaying"]
        assert isinstance(clone, E.ServerError) and isinstance(clone, E.ConsumerError)


def test_timeout_error_keeps_builtin_identity() -> None:
    """flymq's TimeoutError is also an OSError, whose ``__new__`` would drop the args."""
    clone = pickle.loads(pickle.dumps(E.TimeoutError("waited 5 s", hint="raise timeout_ms")))
    assert isinstance(clone, TimeoutError)
    assert clone.args == ("waited 5 s",) and clone.hint == "raise timeout_ms"
