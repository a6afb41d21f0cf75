"""The timer service: callbacks at points in the injected clock's time, on one thread."""

from __future__ import annotations

import logging
import threading
import time
from itertools import count
from pathlib import Path
from typing import Callable, Iterator

import pytest

from flymq import timers
from flymq.broker import Broker, BrokerConfig
from flymq.clock import ManualClock, SystemClock
from flymq.timers import TimerService

pytestmark = pytest.mark.timeout(10)

START = 1_700_000_000_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def service(clock: ManualClock) -> Iterator[TimerService]:
    svc = TimerService(clock)
    yield svc
    svc.close()


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def _recorder(ran: list) -> Callable[[object], Callable[[], None]]:
    """``tag -> callback`` that appends ``tag`` to ``ran`` when it runs."""
    return lambda tag: lambda: ran.append(tag)


def test_due_order_with_ties_in_scheduling_order(clock: ManualClock,
                                                 service: TimerService) -> None:
    ran: list[str] = []
    record = _recorder(ran)
    for tag, delay in [("c", 30), ("a1", 10), ("b", 20), ("a2", 10), ("d", 40), ("a3", 10)]:
        assert service.call_later(delay, record(tag)).due_ms == START + delay
    clock.advance(9)
    assert ran == []
    clock.advance(1)  # exactly due
    assert ran == ["a1", "a2", "a3"]
    clock.advance(25)  # past two due times in one jump
    assert ran == ["a1", "a2", "a3", "b", "c"]
    service.call_at(START, record("late"))  # already due: runs before the later "d"
    clock.advance(5)
    assert ran[-2:] == ["late", "d"]


def test_cancel(clock: ManualClock, service: TimerService) -> None:
    ran: list[str] = []
    record = _recorder(ran)
    kept, cancelled, first = (service.call_later(10, record(tag)) for tag in "kcf")
    assert cancelled.cancel() is True
    assert cancelled.cancel() is False  # idempotent
    clock.advance(10)
    assert ran == ["k", "f"]
    assert kept.cancel() is False  # it has run


def test_callbacks_schedule_timers_during_an_advance(clock: ManualClock,
                                                     service: TimerService) -> None:
    ran: list[str] = []
    record = _recorder(ran)

    def first() -> None:
        ran.append("first")
        service.call_at(START + 5, record("scheduled for an earlier time than 'seven'"))
        service.call_later(0, record("due now"))  # "now" is START + 10: after "seven"
        service.call_later(1, record("next ms"))

    service.call_at(START + 3, first)
    service.call_at(START + 7, record("seven"))
    clock.advance(10)
    assert ran == ["first", "scheduled for an earlier time than 'seven'", "seven", "due now"]
    clock.advance(1)
    assert ran[-1] == "next ms"


def test_a_callback_that_moves_the_clock(clock: ManualClock, service: TimerService) -> None:
    ran: list[int] = []
    service.call_at(START + 1, lambda: (ran.append(1), clock.advance(5)))
    service.call_at(START + 3, lambda: ran.append(3))
    service.call_at(START + 8, lambda: ran.append(8))
    clock.advance(2)  # the nested advance reaches START + 7
    assert ran == [1, 3]
    clock.advance(1)
    assert ran == [1, 3, 8]


def test_call_every_repeats_until_close_and_survives_a_failing_run(
        clock: ManualClock, service: TimerService, caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []

    def task() -> None:
        runs.append(clock.now_ms())
        if len(runs) == 2:
            raise RuntimeError("one bad pass")

    start = clock.now_ms()
    service.call_every(100, task)
    clock.advance(99)
    assert runs == []
    with caplog.at_level(logging.ERROR, logger="flymq.timers"):
        for _ in range(3):
            clock.advance(100)
    assert runs == [start + 199, start + 299, start + 399]   # the failed pass did not stop it
    service.close()
    clock.advance(1000)
    assert len(runs) == 3


def test_a_raising_callback_is_logged_and_the_service_goes_on(
        clock: ManualClock, service: TimerService, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    service.call_later(1, broken)
    service.call_later(1, lambda: ran.append("after"))
    with caplog.at_level(logging.ERROR, logger="flymq.timers"):
        clock.advance(1)
    assert ran == ["after"]
    [failure] = caplog.records
    assert "failed" in failure.getMessage() and failure.exc_info[0] is RuntimeError
    service.call_later(1, lambda: ran.append("later"))
    clock.advance(1)
    assert ran == ["after", "later"]


def test_close_from_a_callback_during_an_advance(clock: ManualClock) -> None:
    before = _threads()
    service = TimerService(clock)
    ran: list[str] = []
    service.call_later(1, service.close)
    service.call_later(1, lambda: ran.append("tie after close"))
    service.call_later(2, lambda: ran.append("later"))
    clock.advance(5)
    assert ran == []
    assert _threads() <= before  # its thread has ended
    clock.advance(5)
    service.close()  # idempotent
    assert ran == []


def test_close_from_a_callback_on_the_service_thread(clock: ManualClock) -> None:
    before = _threads()
    service = TimerService(clock)
    [thread] = _threads() - before
    closed = threading.Event()
    service.call_later(0, lambda: (service.close(), closed.set()))  # due now: the thread runs it
    assert closed.wait(5)
    thread.join(5)
    assert not thread.is_alive()


def test_a_closed_service_runs_nothing(clock: ManualClock) -> None:
    service = TimerService(clock)
    ran: list[str] = []
    service.call_later(1, lambda: ran.append("pending"))
    service.close()
    late = service.call_later(1, lambda: ran.append("scheduled after close"))
    clock.advance(10)
    assert ran == []
    assert late.cancel() is False


@pytest.mark.timeout(60)
def test_a_million_pending_timers(clock: ManualClock, service: TimerService) -> None:
    n = 1_000_000
    runs = count()
    tick = runs.__next__
    to_cancel = []
    for i in range(n):
        timer = service.call_later(1 + (i * 7919) % n, tick)  # due times in scattered order
        if i % 2:
            to_cancel.append(timer)
    assert all(timer.cancel() for timer in to_cancel)
    clock.advance(n)
    assert next(runs) == n // 2


def test_system_clock_timer_fires_after_its_delay() -> None:
    service = TimerService(SystemClock())
    try:
        fired = threading.Event()
        started = time.monotonic()
        service.call_later(50, fired.set)
        assert fired.wait(5)
        assert time.monotonic() - started >= 0.045  # not before its time (ms rounding aside)
    finally:
        service.close()


def test_system_clock_thread_wakes_for_an_earlier_timer_and_on_close(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timers, "MAX_WAIT_S", 3600.0)  # only a notification can cut a sleep
    service = TimerService(SystemClock())
    try:
        service.call_later(3_600_000, lambda: None)  # the thread sleeps for an hour
        fired = threading.Event()
        service.call_later(1, fired.set)
        assert fired.wait(5)
    finally:
        service.close()  # returns although the hour-long timer is still pending


def test_clock_listeners_unsubscribe() -> None:
    clock = ManualClock(START)
    calls: list[str] = []
    first = clock.on_advance(lambda: calls.append("first"))
    clock.on_advance(lambda: calls.append("second"))
    clock.advance(1)
    assert calls == ["first", "second"]
    first()
    first()  # idempotent
    clock.advance(1)
    assert calls == ["first", "second", "second"]
    SystemClock().on_advance(lambda: calls.append("never"))()  # its time never jumps


def test_a_closed_service_no_longer_listens_to_its_clock() -> None:
    class CountingClock(ManualClock):
        listening = 0

        def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
            unsubscribe = super().on_advance(listener)
            self.listening += 1

            def counted() -> None:
                self.listening -= 1
                unsubscribe()
            return counted

    clock = CountingClock(START)
    service = TimerService(clock)
    assert clock.listening == 1
    service.close()
    assert clock.listening == 0


def test_closed_brokers_leave_no_timer_thread(tmp_path: Path) -> None:
    before = _threads()
    for i in range(50):
        with Broker(tmp_path / str(i), BrokerConfig(fsync="never")) as broker:
            assert any(t.name == "flymq-timers" for t in _threads() - before)
            broker.timers.call_later(60_000, lambda: None)
    assert _threads() <= before
