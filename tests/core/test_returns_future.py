"""Tasks whose attempt completes later, from another thread (``returns_future=True``)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FuturesTimeoutError
from typing import Any

import pytest

from threadloom.core import (
    CancelToken,
    Pipeline,
    Pool,
    Retry,
    Stage,
    TaskEvent,
    TraceRecorder,
    current_token,
)


class Inners:
    """The inner futures the tasks under test returned, in the order they were made."""

    def __init__(self) -> None:
        self.futures: list[Future[object]] = []
        self.tokens: list[CancelToken] = []
        self._cond = threading.Condition()

    def make(self, *_: object) -> Future[object]:
        future: Future[object] = Future()
        with self._cond:
            self.futures.append(future)
            self.tokens.append(current_token())
            self._cond.notify_all()
        return future

    def wait_for(self, count: int) -> list[Future[object]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.futures) >= count, timeout=10)
            return list(self.futures)


class Later(Exception):
    """A failure that asks for a retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"later ({retry_after} s)")
        self.retry_after = retry_after


def test_one_worker_drives_fifty_outstanding_inner_futures() -> None:
    inners = Inners()
    with Pool(max_workers=1) as pool:
        futures = [pool.submit_task(inners.make, (i,), returns_future=True) for i in range(50)]
        made = inners.wait_for(50)
        stats = pool.statistics()
        assert (stats.workers, stats.running, stats.succeeded) == (1, 50, 0)
        assert all(f.running() for f in futures)
        for i, inner in enumerate(made):
            inner.set_result(i * i)
        assert [f.result(timeout=10) for f in futures] == [i * i for i in range(50)]
        assert all(f.attempts == 1 for f in futures)
    stats = pool.statistics()
    assert (stats.running, stats.succeeded, stats.queued) == (0, 50, 0)


def test_key_slot_is_held_until_the_inner_future_resolves() -> None:
    inners = Inners()
    with Pool(max_workers=1, key_limit=2) as pool:
        keyed = [pool.submit_task(inners.make, key="host", returns_future=True) for _ in range(5)]
        # The one worker reaches this task only after it dealt with the five before it.
        assert pool.submit(int, "7").result(timeout=10) == 7
        assert len(inners.futures) == 2  # the other three wait behind the key
        assert pool.statistics().running == 2
        inners.futures[0].set_result("a")
        inners.wait_for(3)
        assert pool.submit(int, "8").result(timeout=10) == 8
        assert len(inners.futures) == 3
        for inner in inners.wait_for(3)[1:]:
            inner.set_result("b")
        for inner in inners.wait_for(5)[3:]:
            inner.set_result("c")
        assert [f.result(timeout=10) for f in keyed] == ["a", "b", "b", "c", "c"]


def test_inner_failures_are_retried_and_retry_after_is_honoured() -> None:
    failures = [ConnectionError("reset"), Later(0.2)]

    def attempt() -> Future[str]:
        inner: Future[str] = Future()
        # Resolved from another thread, as an I/O driver would.
        if failures:
            error = failures.pop(0)
            threading.Thread(target=inner.set_exception, args=(error,)).start()
        else:
            threading.Thread(target=inner.set_result, args=("ok",)).start()
        return inner

    events: list[TaskEvent] = []
    policy = Retry(attempts=3, backoff=0.0, jitter=0.0)
    with Pool(max_workers=1) as pool:
        pool.subscribe(events.append)
        started = time.monotonic()
        future = pool.submit_task(attempt, retry=policy, returns_future=True)
        assert future.result(timeout=10) == "ok"
        assert time.monotonic() - started >= 0.2
    assert future.attempts == 3
    assert pool.statistics().retried == 2
    retries = [e.error for e in events if e.kind == "retry"]
    assert retries == ["ConnectionError: reset", "Later: later (0.2 s)"]


def test_last_inner_failure_fails_the_task_and_direct_raise_is_handled_as_before() -> None:
    def failing() -> Future[None]:
        inner: Future[None] = Future()
        inner.set_exception(ValueError("bad body"))
        return inner

    def raising() -> Future[None]:
        raise OSError("no socket")

    policy = Retry(attempts=2, backoff=0.0, jitter=0.0)
    with Pool(max_workers=2) as pool:
        failed = pool.submit_task(failing, retry=policy, returns_future=True)
        raised = pool.submit_task(raising, retry=policy, returns_future=True)
        with pytest.raises(ValueError, match="bad body"):
            failed.result(timeout=10)
        with pytest.raises(OSError, match="no socket"):
            raised.result(timeout=10)
    assert (failed.attempts, raised.attempts) == (2, 2)
    assert pool.statistics().failed == 2


def test_a_value_that_is_not_a_future_is_a_type_error_without_retry() -> None:
    with Pool(max_workers=1) as pool:
        future = pool.submit_task(
            int, ("5",), retry=Retry(attempts=3), label="parse", returns_future=True
        )
        with pytest.raises(TypeError, match=r"'parse'.*returns_future=True.*returned int"):
            future.result(timeout=10)
    assert future.attempts == 1
    assert pool.statistics().failed == 1


def test_deadline_fails_the_task_sets_the_token_and_keeps_the_key_slot() -> None:
    inners = Inners()
    with Pool(max_workers=1, key_limit=1) as pool:
        late = pool.submit_task(inners.make, key="k", deadline=0.1, returns_future=True)
        nxt = pool.submit_task(inners.make, key="k", returns_future=True)
        with pytest.raises(FuturesTimeoutError):
            late.result(timeout=10)
        assert inners.tokens[0].reason == "deadline"
        assert pool.submit(int, "1").result(timeout=10) == 1
        assert len(inners.futures) == 1  # the slot stays taken until resolution
        inners.futures[0].set_result("too late")
        inners.wait_for(2)[1].set_result("next")
        assert nxt.result(timeout=10) == "next"
    assert pool.statistics().timed_out == 1


def test_cancel_sets_the_token_of_an_awaiting_attempt() -> None:
    inners = Inners()
    with Pool(max_workers=1) as pool:
        future = pool.submit_task(inners.make, returns_future=True)
        inner = inners.wait_for(1)[0]
        assert future.cancel() is False  # running: the standard contract
        assert inners.tokens[0].reason == "cancel"
        inner.set_result("finished anyway")
        assert future.result(timeout=10) == "finished anyway"


def test_shutdown_waits_for_inner_futures() -> None:
    inners = Inners()
    pool = Pool(max_workers=1)
    future = pool.submit_task(inners.make, returns_future=True)
    inner = inners.wait_for(1)[0]
    closer = threading.Thread(target=pool.shutdown, kwargs={"wait": True})
    closer.start()
    closer.join(timeout=0.3)
    assert closer.is_alive()  # still waiting for the inner future
    inner.set_result("done")
    closer.join(timeout=10)
    assert not closer.is_alive()
    assert future.result() == "done"


def test_shutdown_cancel_futures_cancels_inner_futures_that_allow_it() -> None:
    inners = Inners()
    pool = Pool(max_workers=1, retry=Retry(attempts=5, backoff=0.0))
    cancellable = pool.submit_task(inners.make, returns_future=True)
    running = pool.submit_task(inners.make, returns_future=True)
    first, second = inners.wait_for(2)
    assert second.set_running_or_notify_cancel()  # a running transfer: cancel() is refused
    pool.shutdown(wait=False, cancel_futures=True)
    assert first.cancelled()
    assert not second.cancelled()
    with pytest.raises(CancelledError, match="was cancelled"):
        cancellable.result(timeout=10)
    assert cancellable.attempts == 1  # the token is set: no retry
    assert inners.tokens[1].reason == "shutdown"
    second.set_result("finished")
    pool.shutdown(wait=True)
    assert running.result() == "finished"


def test_trace_span_runs_from_start_to_resolution_on_the_starting_worker() -> None:
    inners = Inners()
    resolved_at: list[float] = []
    with (
        Pool(max_workers=1, thread_name_prefix="rf") as pool,
        TraceRecorder(pool) as recorder,
        ThreadPoolExecutor(1, thread_name_prefix="driver") as driver,
    ):
        futures = [
            pool.submit_task(inners.make, label=f"t{i}", returns_future=True) for i in range(3)
        ]
        made = inners.wait_for(3)

        def resolve() -> None:
            resolved_at.append(time.monotonic())
            for i, inner in enumerate(made):
                if i == 2:
                    inner.set_exception(ValueError("boom"))
                else:
                    inner.set_result(i)

        driver.submit(resolve).result(timeout=10)
        wait(futures, timeout=10)
    spans = sorted(recorder.spans(), key=lambda s: s.label)
    assert [(s.label, s.thread, s.ok) for s in spans] == [
        ("t0", "rf_0", True),
        ("t1", "rf_0", True),
        ("t2", "rf_0", False),
    ]
    assert all(s.start <= resolved_at[0] <= s.end for s in spans)
    assert spans[2].error == "ValueError: boom"


def test_stage_returns_future_lets_one_worker_hold_its_whole_queue() -> None:
    inners = Inners()
    resolved = threading.Event()

    def resolver() -> None:
        for i, inner in enumerate(inners.wait_for(8)):
            inner.set_result(i * 10)
        resolved.set()

    def start(item: int) -> Future[object]:
        return inners.make(item)

    pipeline = Pipeline(
        [
            Stage(start, workers=1, queue_size=8, ordered=True, returns_future=True),
            Stage(lambda x: x + 1, workers=1),
        ]
    )
    thread = threading.Thread(target=resolver)
    thread.start()
    # The resolver needs all eight inner futures at once: one worker must hold them all.
    with pipeline.run(range(8)) as run:
        assert list(run) == [i * 10 + 1 for i in range(8)]
    thread.join(timeout=10)
    assert resolved.is_set()


def test_start_inline_starts_in_the_submitting_thread_or_the_releasing_one() -> None:
    started_on: list[str] = []
    inners: list[Future[int]] = []

    def start(n: int) -> Future[int]:
        started_on.append(threading.current_thread().name)
        inner: Future[int] = Future()
        inners.append(inner)
        return inner

    with Pool(2, thread_name_prefix="inl") as pool:
        first = pool.submit_task(
            start, (1,), key="k", key_limit=1, returns_future=True, start_inline=True
        )
        second = pool.submit_task(
            start, (2,), key="k", key_limit=1, returns_future=True, start_inline=True
        )
        # The first started in this thread; the second waits behind the key, on no thread.
        assert started_on == ["MainThread"]
        finisher = threading.Thread(target=lambda: inners[0].set_result(10), name="finisher")
        finisher.start()
        finisher.join()
        # The thread that freed the key's slot started the second.
        assert started_on == ["MainThread", "finisher"]
        inners[1].set_result(20)
        assert (first.result(5), second.result(5)) == (10, 20)
        assert pool.statistics().workers == 0, "no worker thread was needed"


def test_start_inline_needs_returns_future() -> None:
    with Pool(1) as pool, pytest.raises(ValueError, match="start_inline needs returns_future"):
        pool.submit_task(lambda: None, start_inline=True)
    with pytest.raises(ValueError, match="start_inline needs returns_future"):
        Stage(lambda x: x, start_inline=True)


def test_a_pipeline_stage_started_inline() -> None:
    executor = ThreadPoolExecutor(4)
    try:

        def later(n: int) -> Future[int]:
            return executor.submit(lambda: n * n)

        stage = Stage(
            later,
            workers=1,
            returns_future=True,
            start_inline=True,
            key=lambda n: n % 3,
            key_limit=1,
            ordered=False,
        )
        assert sorted(Pipeline([stage]).run(range(50))) == [n * n for n in range(50)]
    finally:
        executor.shutdown()


@pytest.mark.parametrize("how", ["done", "raise", "cancelled"])
def test_thousands_of_parked_inline_tasks_that_end_at_once_all_settle(how: str) -> None:
    # Each task the key releases is started by the thread that freed the slot; when it
    # ends at once and frees the slot again, the next one must be started by a loop,
    # not a call one level deeper (that used to exhaust the stack, lose a task with
    # its key's slot held, and hang the key and shutdown).
    gate: Future[int] = Future()

    def start(n: int) -> Future[int]:
        if n == 0:
            return gate
        if how == "raise":
            raise ValueError(n)
        done: Future[int] = Future()
        done.set_result(n)
        return done

    pool = Pool(2)
    futures = [
        pool.submit_task(start, (n,), key="k", key_limit=1, returns_future=True, start_inline=True)
        for n in range(3000)
    ]
    if how == "cancelled":
        for future in futures[1:-1]:
            future.cancel()
    gate.set_result(0)
    _, not_done = wait(futures, timeout=10)
    assert not not_done
    later = pool.submit_task(lambda: 7, key="k", key_limit=1)
    assert later.result(timeout=5) == 7, "the key's slot was given back"
    pool.shutdown(cancel_futures=True)


def test_a_released_task_never_starts_after_shutdown_cancelled_it() -> None:
    # The thread that frees a key takes the next parked task off the released deque;
    # shutdown(cancel_futures=True) in that window must still stop it from starting.
    pool = Pool(1)
    gate: Future[int] = Future()
    stopped = threading.Event()
    ran: list[int] = []

    def start(n: int) -> Future[int]:
        if n == 0:
            return gate
        ran.append(n)
        failed: Future[int] = Future()
        failed.set_exception(ConnectionError("boom"))
        return failed

    def shut_down_in_the_window(delta: int) -> None:
        # Called by the releasing thread after it took the task, before the start.
        if delta < 0 and not stopped.is_set():
            pool.shutdown(wait=False, cancel_futures=True)
            stopped.set()

    futures = [
        pool.submit_task(
            start,
            (n,),
            key="k",
            key_limit=1,
            returns_future=True,
            start_inline=True,
            retry=Retry(attempts=3, backoff=0.01),
            on_wait=shut_down_in_the_window if n else None,
        )
        for n in range(2)
    ]
    gate.set_result(0)
    assert stopped.wait(5)
    assert futures[1].cancelled()
    assert ran == []
    pool.shutdown()


def test_an_inline_start_that_releases_another_pools_task_starts_it_too() -> None:
    # Pool a's released task, started inline, finishes pool b's task on the same thread,
    # which releases b's parked task: b must start it, although this thread is already
    # inside a's loop of starting released tasks.
    gate_a: Future[int] = Future()
    gate_b: Future[int] = Future()
    started: list[str] = []

    def a_start(n: int) -> Future[int]:
        if n == 0:
            return gate_a
        started.append("a1")
        gate_b.set_result(0)  # finishes b0 here, which releases b1
        done: Future[int] = Future()
        done.set_result(1)
        return done

    def b_start(n: int) -> Future[int]:
        if n == 0:
            return gate_b
        started.append("b1")
        done: Future[int] = Future()
        done.set_result(1)
        return done

    with Pool(1) as a, Pool(1) as b:
        b_futures = [
            b.submit_task(
                b_start, (n,), key="k", key_limit=1, returns_future=True, start_inline=True
            )
            for n in range(2)
        ]
        a_futures = [
            a.submit_task(
                a_start, (n,), key="k", key_limit=1, returns_future=True, start_inline=True
            )
            for n in range(2)
        ]
        gate_a.set_result(0)
        _, not_done = wait(a_futures + b_futures, timeout=5)
        assert not not_done
    assert started == ["a1", "b1"]


def test_a_task_parked_after_a_cancelling_shutdown_is_cancelled_not_stranded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker takes a keyed task off the run queue just before shutdown drains the
    # queues, and only then asks for its key's slot. It must be cancelled, not parked
    # behind the key where nothing would ever start it (the workers have exited).
    pool = Pool(1)
    inner: Future[str] = Future()
    inner.set_running_or_notify_cancel()  # a transfer in flight: cancel() cannot stop it
    first = pool.submit_task(lambda: inner, key="k", key_limit=1, returns_future=True)
    in_admit, go = threading.Event(), threading.Event()
    admit = pool._admit

    def slow_admit(task: Any) -> bool:
        if task.future is not first:
            in_admit.set()
            go.wait(5)
        return admit(task)

    monkeypatch.setattr(pool, "_admit", slow_admit)
    second = pool.submit_task(lambda: 42, key="k", key_limit=1)
    assert in_admit.wait(5)
    pool._interrupt()  # what Ctrl-C in a thread waiting on the pool does
    go.set()
    deadline = time.monotonic() + 5
    while pool.statistics().workers and time.monotonic() < deadline:
        time.sleep(0.01)  # the pool is closed: its worker exits after this task
    assert pool.statistics().workers == 0
    inner.set_result("late")  # the transfer ends on another thread
    _, not_done = wait([second], timeout=5)
    assert not not_done
    assert second.cancelled()
    pool.shutdown()


def test_a_retry_policy_that_raises_fails_the_task_and_frees_its_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_predicate(exc: BaseException) -> bool:
        raise RuntimeError("bug in retry_on")

    def start() -> Future[int]:
        failed: Future[int] = Future()
        failed.set_exception(ConnectionError("refused"))
        return failed

    with Pool(1) as pool:
        future = pool.submit_task(
            start,
            key="k",
            key_limit=1,
            retry=Retry(attempts=3, retry_on=broken_predicate),
            returns_future=True,
            start_inline=True,
        )
        with pytest.raises(ConnectionError):
            future.result(timeout=5)
        assert pool.submit_task(lambda: 1, key="k", key_limit=1).result(timeout=5) == 1
    assert "retry policy" in caplog.text
