"""The watchdog reports threads blocked past a threshold, with holder, waiters and stack."""

from __future__ import annotations

import gc
import io
import threading

import pytest

import threadloom.sync as tsync
from threadloom.sync import _state


def test_reports_a_blocked_acquirer_with_holder_and_stack() -> None:
    lock = tsync.Lock()
    reported: list[tsync.BlockedThread] = []
    got_report = threading.Event()

    def callback(blocked: tsync.BlockedThread) -> None:
        reported.append(blocked)
        got_report.set()

    def contender() -> None:
        with lock:
            pass

    with lock:
        worker = threading.Thread(target=contender, name="stuck-worker")
        with tsync.watch(threshold=0.05, interval=0.01, callback=callback):
            worker.start()
            assert got_report.wait(10)
    worker.join()
    blocked = reported[0]
    assert blocked.thread == "stuck-worker"
    assert blocked.kind == "acquiring"
    assert blocked.target.startswith("Lock#")
    assert "held by 'MainThread'" in blocked.holder
    assert any("in contender" in line for line in blocked.stack)
    assert [w.thread for w in blocked.waiters] == ["stuck-worker"]
    assert len(reported) == 1  # once per wait


def test_lists_the_waiters_of_ownerless_primitives_in_a_file() -> None:
    event = tsync.Event()
    both_waiting = threading.Barrier(3)
    out = io.StringIO()

    def wait() -> None:
        both_waiting.wait()
        event.wait()

    workers = [threading.Thread(target=wait, name=f"waiter-{i}") for i in range(2)]
    for worker in workers:
        worker.start()
    both_waiting.wait()
    watchdog = tsync.watch(threshold=0.05, interval=0.01, callback=out)
    try:
        for _ in range(1000):
            if out.getvalue().count("has been waiting on") >= 2:
                break
            threading.Event().wait(0.01)
    finally:
        watchdog.stop()
        event.set()
        for worker in workers:
            worker.join()
    text = out.getvalue()
    assert "thread 'waiter-0' has been waiting on Event#" in text
    assert "waiting on it: 'waiter-0'" in text or "waiting on it: 'waiter-1'" in text
    assert "stack of 'waiter-1'" in text


def test_sees_a_thread_waiting_for_a_pool_future_under_instrumentation() -> None:
    """A Pool future is a LeanFuture (no threading.Condition); instrumented, its waits
    must still show, as a standard Future's did (this is what ``threadloom check`` uses)."""
    from threadloom.core import Pool

    reported: list[tsync.BlockedThread] = []
    got_report = threading.Event()
    release = threading.Event()

    def callback(blocked: tsync.BlockedThread) -> None:
        if blocked.thread == "MainThread":
            reported.append(blocked)
            got_report.set()
            release.set()

    with tsync.instrumented(), Pool(1) as pool:
        future = pool.submit(release.wait, 10)
        with tsync.watch(threshold=0.05, interval=0.01, callback=callback):
            assert future.result(timeout=10) is True
    assert got_report.is_set()
    assert reported[0].kind == "waiting on"
    assert reported[0].target.startswith("Event#")


@pytest.mark.parametrize("collecting", [True, False], ids=["gc-on", "gc-off"])
def test_thread_frames_leave_the_collector_as_they_found_it(collecting: bool) -> None:
    # On CPython 3.11 the collector is off during the call (a collection inside
    # sys._current_frames() can deadlock the process); it must come back as it was.
    was = gc.isenabled()
    (gc.enable if collecting else gc.disable)()
    try:
        frames = _state.thread_frames()
        assert gc.isenabled() is collecting
    finally:
        (gc.enable if was else gc.disable)()
    assert threading.get_ident() in frames
    caller = frames[threading.get_ident()].f_back  # the frame was thread_frames's own
    assert caller is not None
    assert caller.f_code.co_name == ("test_thread_frames_leave_the_collector_as_they_found_it")
