"""Timers, deadlines and cooperative cancellation."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, wait
from concurrent.futures import TimeoutError as FuturesTimeoutError

import pytest

from threadloom.core import CancelToken, Pool, TaskCancelled, cancelled, current_token


def test_after_runs_once_on_a_worker() -> None:
    ran = threading.Event()
    names: list[str] = []

    def fire() -> None:
        names.append(threading.current_thread().name)
        ran.set()

    with Pool(max_workers=1, thread_name_prefix="tick") as pool:
        timer = pool.after(0.01, fire)
        assert ran.wait(10)
        assert timer.cancel() is False  # already fired (waits for the firing to finish)
        assert timer.last is not None
        timer.last.result(timeout=10)
        assert not timer.active
        assert timer.runs == 1
    assert names == ["tick_0"]


def test_every_repeats_until_cancelled_without_extra_threads() -> None:
    count = 0
    five = threading.Event()

    def beat() -> None:
        nonlocal count
        count += 1
        if count == 5:
            five.set()

    with Pool(max_workers=1) as pool:
        before = threading.active_count()
        timers = [pool.every(0.005, beat)] + [pool.every(60, int) for _ in range(50)]
        assert five.wait(10)
        # 51 timers, one scheduler thread (plus the lazily started worker)
        assert threading.active_count() <= before + 2
        for timer in timers:
            assert timer.cancel()
        assert not timers[0].cancel()
        runs = timers[0].runs
    assert runs >= 5


def test_every_does_not_overlap_runs() -> None:
    release = threading.Event()
    started = threading.Event()
    with Pool(max_workers=2) as pool:
        timer = pool.every(0.005, lambda: (started.set(), release.wait(10)))
        assert started.wait(10)
        while timer.skipped < 3:  # ticks come while the first run holds on
            threading.Event().wait(0.005)
        assert timer.runs == 1
        release.set()
        timer.cancel()


def test_every_stops_on_error_and_keeps_the_failure_unread() -> None:
    failed = threading.Event()

    def boom() -> None:
        failed.set()
        raise OSError("heartbeat failed")

    with Pool(max_workers=1) as pool:
        timer = pool.every(0.005, boom)
        assert failed.wait(10)
    assert not timer.active
    assert timer.runs == 1
    with pytest.raises(ExceptionGroup) as group:
        pool.raise_failures()
    assert isinstance(group.value.exceptions[0], OSError)


def test_shutdown_cancels_timers() -> None:
    pool = Pool(max_workers=1)
    timer = pool.after(60, int)
    started = time.monotonic()
    pool.shutdown()
    assert time.monotonic() - started < 5
    assert not timer.active


def test_deadline_fails_future_and_sets_token() -> None:
    stopped = threading.Event()

    def stubborn() -> None:
        token = current_token()
        token.wait(30)
        assert token.reason == "deadline"
        stopped.set()

    with Pool(max_workers=1) as pool:
        future = pool.submit_task(stubborn, deadline=0.05, label="stubborn")
        with pytest.raises(FuturesTimeoutError, match="deadline"):
            future.result(timeout=10)
        assert future.token.is_set()
        assert stopped.wait(10)  # the thread noticed through its token
        stats = pool.statistics()
    assert (stats.timed_out, stats.failed) == (1, 1)


def test_deadline_passing_while_queued_means_it_never_runs() -> None:
    gate = threading.Event()
    ran: list[int] = []
    with Pool(max_workers=1) as pool:
        pool.submit(gate.wait, 10)
        future = pool.submit_task(ran.append, (1,), deadline=0.01)
        with pytest.raises(FuturesTimeoutError):
            future.result(timeout=10)
        gate.set()
    assert ran == []


def test_task_finishing_before_deadline_is_unaffected() -> None:
    with Pool(max_workers=2) as pool:
        futures = [pool.submit_task(pow, (2, i), deadline=30) for i in range(100)]
        assert [f.result(timeout=10) for f in futures] == [2**i for i in range(100)]
        # Settled tasks leave no live entries. A worker settles its task (and cancels the
        # deadline's entry) just after resolving the future, so the last one may still
        # be on its way when the results are read.
        deadline = time.monotonic() + 5
        while pool._scheduler.pending() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert pool._scheduler.pending() == 0


def test_cancel_of_a_running_task_returns_false_but_sets_token() -> None:
    started = threading.Event()

    def cooperative() -> str:
        started.set()
        while not cancelled():
            threading.Event().wait(0.002)
        current_token().raise_if_set()
        return "unreachable"

    with Pool(max_workers=1) as pool:
        future = pool.submit(cooperative)
        assert started.wait(10)
        assert future.cancel() is False
        with pytest.raises(TaskCancelled, match="cancel"):
            future.result(timeout=10)


def test_cancelled_is_false_outside_tasks_and_token_basics() -> None:
    assert cancelled() is False
    token = CancelToken()
    assert not token.wait(0.001)
    token.set("mine")
    token.set("later")
    assert token.reason == "mine"
    assert token.wait(None)
    with pytest.raises(TaskCancelled):
        token.raise_if_set()


def test_a_repeating_timer_whose_run_failed_before_it_was_watched_stops() -> None:
    def boom() -> None:
        raise ValueError("boom")

    with Pool(1) as pool:
        timer = pool.every(0.05, boom)
        submit = timer._submit

        def submit_and_let_it_fail() -> Future[object]:
            future = submit()
            wait([future])  # the run has failed before the timer watches it
            return future

        timer._submit = submit_and_let_it_fail  # type: ignore[method-assign]
        deadline = time.monotonic() + 5
        while timer.active and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not timer.active, "the timer's scheduler thread is stuck in cancel()"
        assert isinstance(timer.last and timer.last.exception(), ValueError)
