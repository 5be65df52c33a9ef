"""LeanFuture keeps the whole concurrent.futures.Future contract with a cheaper lock.

Every test runs the same scenario on the standard Future too, so a difference in
behaviour shows up as a failure of exactly one of the two parameters.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    CancelledError,
    Future,
    InvalidStateError,
    as_completed,
    wait,
)

import pytest

from threadloom.core import CancelToken, LeanFuture, TaskFuture

Factory = Callable[[], Future[object]]

FACTORIES = [pytest.param(Future, id="stdlib"), pytest.param(LeanFuture, id="lean")]


def resolve_later(action: Callable[[], object], started: threading.Event) -> threading.Thread:
    """Run ``action`` on another thread once ``started`` is set."""

    def run() -> None:
        started.wait(5)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_task_future_is_lean() -> None:
    assert issubclass(TaskFuture, LeanFuture)
    assert issubclass(LeanFuture, Future)


@pytest.mark.parametrize("make", FACTORIES)
def test_states_through_a_normal_life(make: Factory) -> None:
    future = make()
    assert (future.done(), future.running(), future.cancelled()) == (False, False, False)
    assert future.set_running_or_notify_cancel() is True
    assert future.running()
    assert future.cancel() is False  # running: too late
    future.set_result(42)
    assert (future.done(), future.running(), future.cancelled()) == (True, False, False)
    assert future.result(0) == 42
    assert future.exception(0) is None
    assert "state=finished returned int" in repr(future)
    with pytest.raises(InvalidStateError):
        future.set_result(1)
    with pytest.raises(InvalidStateError):
        future.set_exception(ValueError())
    with pytest.raises(RuntimeError):
        future.set_running_or_notify_cancel()


@pytest.mark.parametrize("make", FACTORIES)
def test_exception_is_raised_and_returned(make: Factory) -> None:
    future = make()
    error = ValueError("boom")
    future.set_exception(error)
    assert future.exception() is error
    with pytest.raises(ValueError, match="boom") as caught:
        future.result()
    assert caught.value is error
    assert "raised ValueError" in repr(future)


@pytest.mark.parametrize("make", FACTORIES)
def test_cancel_before_start(make: Factory) -> None:
    future = make()
    seen: list[bool] = []
    future.add_done_callback(lambda f: seen.append(f.cancelled()))
    assert future.cancel() is True
    assert future.cancel() is True  # idempotent
    assert seen == [True]
    assert future.cancelled()
    assert future.done()
    with pytest.raises(CancelledError):
        future.result()
    with pytest.raises(CancelledError):
        future.exception()
    assert future.set_running_or_notify_cancel() is False
    with pytest.raises(InvalidStateError):
        future.set_result(1)


@pytest.mark.parametrize("make", FACTORIES)
def test_timeouts(make: Factory) -> None:
    future = make()
    with pytest.raises(TimeoutError):
        future.result(timeout=0.01)
    with pytest.raises(TimeoutError):
        future.exception(timeout=0)
    future.set_result("late")
    assert future.result(timeout=0) == "late"


@pytest.mark.parametrize("make", FACTORIES)
def test_many_threads_wake_on_one_result(make: Factory) -> None:
    future = make()
    results: list[object] = []
    lock = threading.Lock()
    ready = threading.Barrier(6)

    def waiter() -> None:
        ready.wait(5)
        value = future.result(timeout=5)
        with lock:
            results.append(value)

    threads = [threading.Thread(target=waiter) for _ in range(5)]
    for thread in threads:
        thread.start()
    ready.wait(5)
    future.set_result("all")
    for thread in threads:
        thread.join(5)
    assert results == ["all"] * 5


@pytest.mark.parametrize("make", FACTORIES)
def test_cancel_wakes_a_waiting_thread(make: Factory) -> None:
    future = make()
    started = threading.Event()
    thread = resolve_later(future.cancel, started)
    started.set()
    with pytest.raises(CancelledError):
        future.result(timeout=5)
    thread.join(5)


@pytest.mark.parametrize("make", FACTORIES)
def test_callbacks_run_in_order_and_failures_are_logged(
    make: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    future = make()
    order: list[str] = []

    def broken(_: Future[object]) -> None:
        raise RuntimeError("callback bug")

    future.add_done_callback(lambda _: order.append("first"))
    future.add_done_callback(broken)
    future.add_done_callback(lambda _: order.append("third"))
    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        future.set_result(None)
        future.add_done_callback(lambda _: order.append("after"))  # runs at once
        future.add_done_callback(broken)
    assert order == ["first", "third", "after"]
    assert [r.message.startswith("exception calling callback") for r in caplog.records] == [
        True,
        True,
    ]


@pytest.mark.parametrize("make", FACTORIES)
def test_wait_and_as_completed(make: Factory) -> None:
    futures = [make() for _ in range(4)]
    started = threading.Event()
    threads = [
        resolve_later(lambda f=f, i=i: f.set_result(i), started)  # type: ignore[misc]
        for i, f in enumerate(futures[:3])
    ]
    futures[3].cancel()
    futures[3].set_running_or_notify_cancel()
    started.set()
    done, not_done = wait(futures, timeout=5)
    assert done == set(futures)
    assert not not_done
    assert sorted(f.result() for f in futures[:3]) == [0, 1, 2]
    assert set(as_completed(futures, timeout=5)) == set(futures)
    for thread in threads:
        thread.join(5)


@pytest.mark.parametrize("make", FACTORIES)
def test_wait_first_completed_sees_a_later_exception(make: Factory) -> None:
    slow, failing = make(), make()
    started = threading.Event()
    thread = resolve_later(lambda: failing.set_exception(KeyError("k")), started)
    started.set()
    done, not_done = wait([slow, failing], timeout=5, return_when=FIRST_COMPLETED)
    assert done == {failing}
    assert not_done == {slow}
    thread.join(5)


@pytest.mark.parametrize("make", FACTORIES)
def test_asyncio_wrap_future(make: Factory) -> None:
    future = make()

    async def main() -> object:
        wrapped = asyncio.wrap_future(future)
        asyncio.get_running_loop().call_soon(
            threading.Thread(target=lambda: future.set_result("from a thread")).start
        )
        return await asyncio.wait_for(wrapped, 5)

    assert asyncio.run(main()) == "from a thread"


def test_a_timed_out_waiter_leaves_nothing_behind() -> None:
    future: LeanFuture[int] = LeanFuture()
    for _ in range(100):
        with pytest.raises(TimeoutError):
            future.result(timeout=0)
    assert not future._sleepers
    future.set_result(1)
    assert future.result() == 1


def make_task_future() -> TaskFuture[object]:
    future: TaskFuture[object] = TaskFuture()
    future.task_id = 1
    future.token = CancelToken()
    return future


@pytest.mark.parametrize("make", [*FACTORIES, pytest.param(make_task_future, id="task")])
def test_a_raised_failure_is_freed_without_the_cyclic_gc(make: Factory) -> None:
    """result() raising must not tie exception -> traceback -> frame -> future into a
    cycle: failed requests would keep their frames' locals alive until a GC pass."""

    class Failure(Exception):
        pass

    gc.collect()
    gc.disable()
    try:
        future = make()
        error = Failure()
        alive = weakref.ref(error)
        future.set_exception(error)
        del error
        with pytest.raises(Failure):
            future.result()
        del future
        assert alive() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("make", [*FACTORIES, pytest.param(make_task_future, id="task")])
def test_cancel_runs_callbacks_without_holding_the_future(make: Factory) -> None:
    """As the standard Future does: a callback may wait for a thread that needs the
    future's lock (one in wait() or as_completed() over it)."""
    future = make()
    others_got_in: list[bool] = []

    def callback(f: Future[object]) -> None:
        def take_the_lock() -> None:
            # What wait() and as_completed() do first.
            if f._condition.acquire(timeout=5):
                f._condition.release()
                others_got_in.append(True)

        helper = threading.Thread(target=take_the_lock)
        helper.start()
        helper.join(10)

    future.add_done_callback(callback)
    assert future.cancel()
    assert others_got_in == [True]
