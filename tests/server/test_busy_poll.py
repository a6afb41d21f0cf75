"""Busy polling (flymq.server.busy_poll): after a request the loop polls instead of sleeping
for ``busy_poll_us``, then sleeps again; 0 turns it off."""

from __future__ import annotations

import time

import pytest

from flymq.clock import ManualClock
from flymq.server import ServerConfig
from flymq.server.busy_poll import MAIN_THREAD_WINDOW_US, BusyPoll, window_us
from flymq.testing import ServeProcess


class FakeLoop:
    """Holds ``call_soon`` callbacks until :meth:`run_once` (one turn of a loop)."""

    def __init__(self) -> None:
        self.ready: list = []

    def call_soon(self, callback) -> None:
        self.ready.append(callback)

    def run_once(self) -> None:
        ready, self.ready = self.ready, []
        for callback in ready:
            callback()


A, B = object(), object()   # two connections


def test_the_window_opens_is_extended_by_requests_and_closes():
    clock, loop = ManualClock(), FakeLoop()
    poll = BusyPoll(loop, 100, clock=clock.monotonic)
    poll.activity(clock.monotonic(), A)
    assert poll.spinning and len(loop.ready) == 1
    poll.activity(clock.monotonic(), A)         # a second request: still one spin
    assert len(loop.ready) == 1
    clock.advance(0.05)                         # 50 µs
    loop.run_once()
    assert poll.spinning and len(loop.ready) == 1
    poll.activity(clock.monotonic(), A)         # the window now ends at 150 µs
    clock.advance(0.09)
    loop.run_once()
    assert poll.spinning                        # 140 µs: still polling
    clock.advance(0.02)
    loop.run_once()
    assert not poll.spinning and loop.ready == []   # 160 µs: the loop may sleep
    poll.activity(clock.monotonic(), A)         # the next request opens it again
    assert poll.spinning and len(loop.ready) == 1


def test_no_spin_while_two_connections_are_busy():
    clock, loop = ManualClock(), FakeLoop()
    poll = BusyPoll(loop, 100, clock=clock.monotonic)
    poll.activity(clock.monotonic(), A)
    clock.advance(0.03)
    poll.activity(clock.monotonic(), B)         # another client within the window
    loop.run_once()
    assert not poll.spinning and loop.ready == []
    for _ in range(5):                          # they keep alternating: no spin
        clock.advance(0.03)
        poll.activity(clock.monotonic(), A if _ % 2 else B)
        assert not poll.spinning
    clock.advance(0.2)                          # a window without requests: A alone
    poll.activity(clock.monotonic(), A)         # again, spinning again
    assert poll.spinning


class FakeFuture:
    def __init__(self) -> None:
        self.callbacks: list = []

    def add_done_callback(self, callback) -> None:
        self.callbacks.append(callback)

    def finish(self) -> None:
        for callback in self.callbacks:
            callback(self)


def test_no_spin_while_a_worker_thread_runs_a_call():
    """A worker thread needs the interpreter lock that a spinning loop holds."""
    clock, loop = ManualClock(), FakeLoop()
    poll = BusyPoll(loop, 100, clock=clock.monotonic)
    poll.activity(clock.monotonic(), A)
    job = FakeFuture()
    poll.job_started(job)                       # the request went to a worker thread
    loop.run_once()
    assert not poll.spinning and loop.ready == []
    poll.activity(clock.monotonic(), A)         # still running: no spin
    assert not poll.spinning
    job.finish()
    poll.activity(clock.monotonic(), A)
    assert poll.spinning


@pytest.mark.parametrize("bad", [-1, 100_001])
def test_the_window_is_bounded(bad):
    with pytest.raises(ValueError, match="busy_poll_us must be 0..100000"):
        ServerConfig(busy_poll_us=bad)


def test_zero_turns_it_off(make_server):
    server = make_server(busy_poll_us=0)
    assert server.busy_poll is None
    with _tcp(server) as client:
        assert client.produce("t", b"x") == 0


def test_by_default_only_a_loop_in_the_main_thread_spins(make_server):
    assert window_us(None) == MAIN_THREAD_WINDOW_US       # pytest runs tests in the main thread
    assert window_us(250) == 250
    assert make_server().busy_poll is None                # start_in_thread: beside the app
    assert make_server(busy_poll_us=250).busy_poll is not None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("flag, window", [((), MAIN_THREAD_WINDOW_US),
                                          (("--busy-poll-us", "0"), 0)])
def test_flymq_serve_spins_by_default(tmp_path, flag, window):
    """``flymq serve`` runs its loop in the main thread, so it busy-polls unless told not to."""
    with ServeProcess("--port", "0", "--data-dir", str(tmp_path), "--log-level", "INFO",
                      *flag) as served:
        served.terminate()
        assert f"(busy poll: {window} µs)" in served.proc.stderr.read()


@pytest.mark.timeout(30)
def test_a_served_request_polls_then_the_idle_server_sleeps(make_server, monkeypatch):
    opened = []
    real = BusyPoll.activity
    monkeypatch.setattr(BusyPoll, "activity",
                        lambda self, now, source: (opened.append(now),
                                                   real(self, now, source))[1])
    server = make_server(busy_poll_us=1000)
    with _tcp(server) as client:
        assert client.produce("t", b"x") == 0
        assert opened                               # the request opened the window
        deadline = time.monotonic() + 20
        while server.busy_poll.spinning:            # and 1 ms after it, the loop may sleep
            assert time.monotonic() < deadline, "the loop kept polling with nothing to do"
            time.sleep(0.001)


def _tcp(server):
    from flymq import FlyMQClient

    return FlyMQClient("%s:%d" % server.address)
