"""Fetch results hold their messages as a MessageList: a list for every reader, but built as it
is read. Tested through fetch on both transports and on its own across several runs."""

from __future__ import annotations

import gc
import pickle

import pytest

from flymq import ConsumedMessage, MessageList
from flymq.message_list import MessageColumns


def _fill(client, n: int = 5, topic: str = "ml") -> None:
    client.create_topic(topic, 1)
    for i in range(n):
        client.produce_with_key(topic, f"k{i}".encode(), f"v{i}".encode())


def test_fetch_gives_a_message_list_that_reads_like_a_list(client):
    _fill(client)
    messages = client.fetch("ml", 0, 0, 10).messages
    assert isinstance(messages, MessageList)
    as_list = list(messages)
    assert [m.value for m in as_list] == [f"v{i}".encode() for i in range(5)]
    assert len(messages) == 5 and bool(messages)
    assert messages[0] == as_list[0] and messages[-1].offset == 4 and messages[-5].offset == 0
    assert messages[1:4] == as_list[1:4] and isinstance(messages[1:4], list)
    assert messages[::-2] == as_list[::-2] and messages[10:] == []
    assert messages == as_list and as_list == messages and messages != as_list[:4]
    assert as_list[2] in messages and messages.index(as_list[3]) == 3
    assert messages + [] == as_list and [] + messages == as_list
    assert list(reversed(messages)) == as_list[::-1]
    assert repr(messages) == repr(as_list)
    assert [m.key for m in messages] == [f"k{i}".encode() for i in range(5)]
    with pytest.raises(IndexError):
        messages[5]
    with pytest.raises(IndexError):
        messages[-6]


def test_reading_twice_gives_equal_messages(client):
    _fill(client, 3)
    messages = client.fetch("ml", 0, 0, 10).messages
    assert list(messages) == list(messages)
    assert messages[1] == messages[1] and hash(messages[1]) == hash(messages[1])


def test_changing_a_message_list_works_like_a_list(client):
    _fill(client, 4)
    messages = client.fetch("ml", 0, 0, 10).messages
    expected = list(messages)
    extra = ConsumedMessage("ml", 0, 99, b"x")
    messages.append(extra)
    expected.append(extra)
    assert messages == expected and messages[-1] is extra
    messages.sort(key=lambda m: -m.offset)
    expected.sort(key=lambda m: -m.offset)
    assert messages == expected
    del messages[0]
    assert messages.pop() == expected[-1] and len(messages) == 3
    messages.insert(0, extra)
    messages += [extra]
    assert messages[0] is extra and messages[-1] is extra and len(messages) == 5
    messages.clear()
    assert messages == [] and not messages


def test_message_list_pickles_and_copies(client):
    _fill(client, 3)
    messages = client.fetch("ml", 0, 0, 10).messages
    restored = pickle.loads(pickle.dumps(messages))
    assert isinstance(restored, MessageList) and restored == messages
    copy = messages.copy()
    copy.append(ConsumedMessage("ml", 0, 9, b"x"))
    assert len(copy) == 4 and len(messages) == 3


def test_client_serde_reaches_every_fetched_message(client):
    client.create_topic("objs", 1)
    client.set_serde("json")
    for i in range(3):
        client.produce_object("objs", {"n": i})
    messages = client.fetch("objs", 0, 0, 10).messages
    assert [m.decode() for m in messages] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert messages[-1].decode() == {"n": 2}


def test_a_fetch_builds_no_message_until_one_is_read(client):
    """A 5,000-message fetch allocates a handful of container objects, not 5,000, so the
    garbage collector has nothing to walk while the reader works through it."""
    client.create_topic("many", 1)
    with client.producer(linger_ms=5) as producer:
        for _ in range(5000):
            producer.send("many", b"x" * 10)
    enabled = gc.isenabled()
    gc.disable()
    try:
        before = gc.get_count()[0]
        result = client.fetch("many", 0, 0, 5000)
        allocated = gc.get_count()[0] - before
        assert len(result.messages) == 5000
        assert allocated < 500
        before = gc.get_count()[0]
        assert sum(len(m.value) for m in result.messages) == 50_000  # built and dropped one by one
        assert gc.get_count()[0] - before < 50
    finally:
        if enabled:
            gc.enable()


def _columns(offsets, values, **kw) -> MessageColumns:
    return MessageColumns("t", 2, offsets, values, **kw)


def test_several_runs_index_and_iterate_as_one_list():
    runs = [_columns(range(0, 3), [b"a", b"b", b"c"], keys=[b"k", None, b"k"]),
            _columns(range(3, 3), []),
            _columns(range(10, 12), [b"d", b"e"], timestamps=[1000, 2000],
                     headers=[{"h": "1"}, None])]
    messages = MessageList.from_columns(runs)
    built = list(messages)
    assert len(messages) == 5 and [m.offset for m in built] == [0, 1, 2, 10, 11]
    assert [messages[i].value for i in range(-5, 5)] == [m.value for m in built * 2]
    assert messages[0].key == b"k" and messages[1].key is None and messages[3].key is None
    assert messages[3].timestamp_ms == 1000 and messages[0].timestamp is None
    assert messages[3].headers == {"h": "1"} and messages[4].headers == {}
    assert all(m.partition == 2 and m.topic == "t" for m in messages)
    assert messages[2:4] == built[2:4]


def test_a_list_of_messages_becomes_a_message_list():
    made = [ConsumedMessage("t", 0, i, b"v") for i in range(3)]
    messages = MessageList(made)
    assert messages == made and messages[1] is made[1]
    assert MessageList() == [] and len(MessageList()) == 0
    with pytest.raises(TypeError):
        hash(messages)


def test_extending_a_message_list_by_itself_doubles_it():
    made = [ConsumedMessage("t", 2, i, b"v") for i in range(2)]
    messages = MessageList.from_columns([_columns(range(2), [b"v", b"v"])])
    messages += messages
    assert messages == made * 2
    messages.extend(messages)
    assert len(messages) == 8
