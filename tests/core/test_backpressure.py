"""max_queued / when_full: block, raise, caller_runs; no self-deadlock."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from threadloom.core import Pool, PoolFull, TaskFuture


def _occupied_pool(**kwargs: object) -> tuple[Pool, threading.Event, threading.Event]:
    """A one-worker pool whose worker is busy until the returned gate is set."""
    gate = threading.Event()
    started = threading.Event()
    pool = Pool(max_workers=1, **kwargs)  # type: ignore[arg-type]

    def hold() -> None:
        started.set()
        gate.wait(30)

    pool.submit(hold)
    assert started.wait(10)
    return pool, gate, started


def test_default_is_unbounded_like_thread_pool_executor() -> None:
    pool, gate, _ = _occupied_pool()
    futures = [pool.submit(int) for _ in range(10_000)]
    assert pool.statistics().queued == 10_000
    gate.set()
    pool.shutdown()
    assert all(f.result() == 0 for f in futures)


def test_raise_when_full() -> None:
    pool, gate, _ = _occupied_pool(max_queued=2, when_full="raise")
    pool.submit(int)
    pool.submit(int)
    with pytest.raises(PoolFull, match="max_queued=2"):
        pool.submit(int)
    gate.set()
    pool.shutdown()


def test_block_when_full_until_a_task_starts() -> None:
    pool, gate, _ = _occupied_pool(max_queued=1)
    pool.submit(int)
    submitted = threading.Event()

    def producer() -> None:
        pool.submit(int)
        submitted.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert not submitted.wait(0.2)  # blocked: the queue is full
    gate.set()
    assert submitted.wait(10)
    thread.join(10)
    pool.shutdown()
    assert pool.statistics().succeeded == 3


def test_blocked_submit_fails_on_shutdown() -> None:
    pool, gate, _ = _occupied_pool(max_queued=1)
    pool.submit(int)
    errors: list[BaseException] = []
    waiting = threading.Event()

    def producer() -> None:
        waiting.set()
        try:
            pool.submit(int)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=producer)
    thread.start()
    assert waiting.wait(10)
    pool.shutdown(wait=False)
    thread.join(10)
    assert not thread.is_alive()
    gate.set()
    pool.shutdown()
    assert len(errors) == 1


def test_caller_runs_when_full() -> None:
    pool, gate, _ = _occupied_pool(max_queued=1, when_full="caller_runs")
    pool.submit(int)
    future = pool.submit(threading.current_thread)
    assert future.done()
    assert future.result() is threading.current_thread()
    failing = pool.submit(int, "x")
    with pytest.raises(ValueError):
        failing.result()
    gate.set()
    pool.shutdown()


def test_task_submitting_to_its_own_full_pool_never_deadlocks() -> None:
    # A fan-out where every task submits two more: the queue is over its bound almost
    # all the time, and the only threads that could make room are the submitting workers.
    total = 2**9 - 1
    count = 0
    lock = threading.Lock()
    all_done = threading.Event()
    with Pool(max_workers=2, max_queued=1) as pool:

        def node(depth: int) -> None:
            nonlocal count
            if depth:
                pool.submit(node, depth - 1)
                pool.submit(node, depth - 1)
            with lock:
                count += 1
                if count == total:
                    all_done.set()

        pool.submit(node, 8)
        assert all_done.wait(30)
    assert count == total


def test_caller_runs_task_whose_deadline_fires_first_is_settled_not_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The deadline is armed under the pool lock; the calling thread starts the task after
    # releasing it. Hold the caller at that start until the deadline has failed the future,
    # which is what deadline=0 or a descheduled caller does by chance.
    pool, gate, _ = _occupied_pool(max_queued=1, when_full="caller_runs")
    pool.submit(int)  # the queue is full: the next submit runs in this thread
    expired = threading.Event()
    pool.subscribe(lambda event: expired.set() if event.kind == "timeout" else None)
    caller = threading.current_thread()
    held = False

    def hold_first_start(original: Callable[[TaskFuture[object]], bool]) -> Callable[..., bool]:
        def start(future: TaskFuture[object]) -> bool:
            nonlocal held
            if threading.current_thread() is caller and not held:
                held = True
                assert expired.wait(10)
            return original(future)

        return start

    for name in ("set_running_or_notify_cancel", "_try_start"):
        monkeypatch.setattr(TaskFuture, name, hold_first_start(getattr(TaskFuture, name)))
    ran = threading.Event()
    future = pool.submit_task(ran.set, deadline=0)
    assert held
    with pytest.raises(TimeoutError, match="passed its deadline"):
        future.result(timeout=0)
    assert not ran.is_set()
    gate.set()
    done = threading.Thread(target=pool.shutdown)  # a task left unsettled would hang it
    done.start()
    done.join(10)
    assert not done.is_alive()
    assert pool.statistics().timed_out == 1
