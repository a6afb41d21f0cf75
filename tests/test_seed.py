"""Every ```python snippet of the seed document runs verbatim: embedded, over TCP to an
in-process server, and against a real ``flymq serve`` process.

The code text is never edited. Each snippet runs in a namespace prepared for it: the names
the document leaves undefined (``client``, ``items``, ``data``, ...) are given values, and
``"localhost:9092"`` is redirected to the test broker with :func:`flymq.testing.redirect`.
Functions a snippet only defines (``produce_async``, ``produce_with_retry``) are then called,
and what each snippet wrote is read back with a fresh client (:data:`EFFECTS`).

Snippets that need features of later issues are strict xfails naming the issue, so they turn
into failures (XPASS) the moment the feature lands and the marker must go.

The seed lives in ``../shared/seeds/``; ``tests/data/PRODUCER_PATTERNS.md`` is a verbatim copy
used where ``../shared`` is absent.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from flymq import FlyMQClient
from flymq.testing import ServeProcess, client_for, redirect

_DATA_COPY = Path(__file__).parent / "data" / "PRODUCER_PATTERNS.md"
_SHARED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "PRODUCER_PATTERNS.md"
SEED = _SHARED if _SHARED.exists() else _DATA_COPY

# substring of a snippet -> (the later feature it needs, how it fails until then); every
# feature the seed needs has landed
LATER_FEATURES: dict[str, tuple[str, type[Exception]]] = {}

USER_SCHEMA = json.dumps({
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["id", "name"],
})


def _snippets(text: str) -> list[tuple[str, str]]:
    """``(id, code)`` for each python block, named after the heading above it."""
    out, heading = [], "top"
    for m in re.finditer(r"^(#+ [^\n]*)$|^```python\n(.*?)^```", text, re.M | re.S):
        if m[1]:
            heading = re.sub(r"\W+", "-", m[1].lstrip("# ").lower()).strip("-")
        else:
            out.append((heading, m[2]))
    return out


def _param(snippet_id: str, code: str):
    marks = [pytest.mark.xfail(strict=True, raises=error, reason=f"needs issue: {feature}")
             for needle, (feature, error) in LATER_FEATURES.items() if needle in code][:1]
    return pytest.param(snippet_id, code, id=snippet_id, marks=marks)


SNIPPETS = _snippets(SEED.read_text(encoding="utf-8"))


#: SHA-256 of the seed document as published; the copy must stay byte for byte the same.
SEED_SHA256 = "262dd824a8b43f549c3c0ec2c32700d9d44ae03898f025f282c27671f5fb9621"


def test_seed_copy_is_verbatim():
    """Runs in any clone: the copy against the recorded digest (and against ../shared too,
    where it is beside the checkout)."""
    import hashlib

    assert hashlib.sha256(_DATA_COPY.read_bytes()).hexdigest() == SEED_SHA256
    if _SHARED.exists():
        assert _DATA_COPY.read_bytes() == _SHARED.read_bytes()


def test_every_snippet_is_collected():
    assert len(SNIPPETS) == 13


def _values(client: FlyMQClient, topic: str, partition: int = 0) -> list[bytes]:
    return [m.data for m in client.fetch(topic, partition, 0, 100_000).messages]


def _same_partition_in_order(client: FlyMQClient) -> None:
    messages = client.fetch("orders", 0, 0, 100).messages  # auto-created: one partition
    assert [(m.key, m.data) for m in messages] == [
        (b"user-123", b"Order #1"), (b"user-123", b"Order #2"), (b"user-123", b"Order #3")]


# snippet id -> a check of what it wrote, read back by a fresh client
EFFECTS = {
    "simple-produce": lambda c: _values(c, "my-topic") == [b"Hello, FlyMQ!"],
    "using-context-manager": lambda c: _values(c, "my-topic") == [b"Hello!"],
    "key-based-routing": lambda c: _same_partition_in_order(c) is None,
    "high-throughput-producer": lambda c: _values(c, "high-volume-topic") == [
        f"Message {i}".encode() for i in range(10000)],
    "async-producer": lambda c: sorted(_values(c, "async-topic")) == sorted(
        f"Message {i}".encode() for i in range(1000)),
    "retry-with-exponential-backoff": lambda c: _values(c, "retry-topic") == [b"x"],
    "handling-specific-errors": lambda c: _values(c, "topic") == [b"payload"],
    "ttl-messages": lambda c: _values(c, "expiring-topic") == [b"Temporary data"],
    "delayed-messages": lambda c: (_values(c, "scheduled-topic"),
                                   c.count_delayed("scheduled-topic")) == ([], 1),
    "schema-validation": lambda c: _values(c, "users") == [b'{"id": 1, "name": "Ada"}'],
    "using-transactions-for-atomicity": lambda c: _values(c, "batch-topic") == [
        b"item-1", b"item-2", b"item-3"],
    "multi-topic-atomic-writes": lambda c: (
        _values(c, "orders"), _values(c, "payments"), _values(c, "notifications")) == (
        [b'{"order": 1}'], [b'{"payment": 1}'], [b'{"notify": 1}']),
    "manual-transaction-control": lambda c: (_values(c, "topic1"), _values(c, "topic2")) == (
        [b"message1"], [b"message2"]),
}


def test_every_snippet_without_a_later_feature_has_an_effect_check():
    later = {i for i, c in SNIPPETS if any(needle in c for needle in LATER_FEATURES)}
    assert {i for i, _ in SNIPPETS} - later == set(EFFECTS)


@pytest.fixture(params=["local", "tcp", "flymq-serve"])
def seed_endpoint(request: pytest.FixtureRequest, tmp_path: Path):
    """The broker a snippet reaches: embedded, an in-process server, or `flymq serve`."""
    if request.param == "local":
        yield request.getfixturevalue("flymq_broker")
    elif request.param == "tcp":
        yield request.getfixturevalue("flymq_server")
    else:
        with ServeProcess("--port", "0", "--data-dir", str(tmp_path / "serve"),
                          "--fsync", "never") as proc:
            yield proc.bootstrap


@pytest.mark.parametrize("snippet_id, code", [_param(i, c) for i, c in SNIPPETS])
def test_snippet_runs_verbatim(snippet_id, code, seed_endpoint, capsys):
    with client_for(seed_endpoint) as client, client_for(seed_endpoint) as reader:
        _run(code, client, seed_endpoint, capsys)
        effect = EFFECTS.get(snippet_id)
        assert effect is None or effect(reader), f"{snippet_id}: unexpected data afterwards"


def _run(code: str, client: FlyMQClient, endpoint, capsys) -> None:
    namespace = {
        "__name__": "seed_snippet",
        "client": client,
        "items": ["item-1", "item-2", "item-3"],
        "order_data": b'{"order": 1}',
        "payment_data": b'{"payment": 1}',
        "notification_data": b'{"notify": 1}',
        "user_schema": USER_SCHEMA,
        "user_json": b'{"id": 1, "name": "Ada"}',
        "data": b"payload",
    }
    with redirect("localhost:9092", endpoint):
        exec(compile(code, "<seed snippet>", "exec"), namespace)
        if "produce_async" in namespace:
            asyncio.run(namespace["produce_async"]())
        if "produce_with_retry" in namespace:
            result = namespace["produce_with_retry"](namespace["client"], "retry-topic", b"x")
            assert result == 0 and result.topic == "retry-topic"
    if "Produced at offset" in code:
        assert capsys.readouterr().out == "Produced at offset: 0\n"
