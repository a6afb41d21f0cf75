"""ServerConfig.event_loop: which loop ``flymq serve`` and ``Server.start_in_thread`` run."""

from __future__ import annotations

import asyncio
import sys

import pytest

from flymq.server import ServerConfig, loop_factory


def test_unknown_event_loop_is_rejected():
    with pytest.raises(ValueError, match="event_loop must be one of"):
        ServerConfig(event_loop="trio")
    with pytest.raises(ValueError):
        loop_factory("trio")


def test_asyncio_is_asyncio_and_auto_prefers_uvloop():
    assert loop_factory("asyncio") is asyncio.new_event_loop
    uvloop = pytest.importorskip("uvloop")
    assert loop_factory("auto") is uvloop.new_event_loop
    assert loop_factory("uvloop") is uvloop.new_event_loop


def test_missing_uvloop(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails
    assert loop_factory("auto") is asyncio.new_event_loop
    with pytest.raises(RuntimeError, match="uvloop is not installed"):
        loop_factory("uvloop")


def test_start_in_thread_runs_the_configured_loop(make_server, event_loop_name):
    server = make_server()
    is_uvloop = type(server.loop).__module__.startswith("uvloop")
    assert is_uvloop == (event_loop_name == "uvloop")
    with _tcp(server) as client:
        assert client.produce("t", b"x") == 0


def _tcp(server):
    from flymq import FlyMQClient

    return FlyMQClient("%s:%d" % server.address)
