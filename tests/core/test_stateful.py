"""Hypothesis state machine over submit / cancel / shutdown sequences.

Invariants: after shutdown every future is resolved; each one either succeeded with its
own value, failed with its own exception (and the pool counted it), or was cancelled;
the pool's counters add up; no failure goes missing from raise_failures().
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import CancelledError, wait

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from threadloom.core import Pool, Retry, RetryLater, TaskFuture


class Boom(Exception):
    pass


def _task(kind: str, value: int, gate: threading.Event) -> int:
    if kind == "wait":
        gate.wait(10)
    if kind == "fail":
        raise Boom(value)
    if kind == "retry":
        raise RetryLater(0.001)
    return value


class PoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pool = Pool(max_workers=2, key_limit=1)
        self.gate = threading.Event()
        self.futures: list[tuple[TaskFuture[int], str, int]] = []
        self.closed = False

    @precondition(lambda self: not self.closed)
    @rule(
        kind=st.sampled_from(["ok", "fail", "wait", "retry"]),
        key=st.sampled_from([None, "a", "b"]),
        deadline=st.sampled_from([None, None, 0.001, 5.0]),
    )
    def submit(self, kind: str, key: str | None, deadline: float | None) -> None:
        value = len(self.futures)
        future = self.pool.submit_task(
            _task,
            (kind, value, self.gate),
            key=key,
            deadline=deadline,
            retry=Retry(attempts=2, backoff=0.001) if kind == "retry" else None,
        )
        self.futures.append((future, kind, value))

    @precondition(lambda self: bool(self.futures))
    @rule(index=st.integers(min_value=0), release=st.booleans())
    def cancel(self, index: int, release: bool) -> None:
        self.futures[index % len(self.futures)][0].cancel()
        if release:
            self.gate.set()

    @precondition(lambda self: not self.closed)
    @rule(cancel_futures=st.booleans())
    def shutdown(self, cancel_futures: bool) -> None:
        self.gate.set()
        self.pool.shutdown(wait=True, cancel_futures=cancel_futures)
        self.closed = True
        self.check_all_resolved()

    @precondition(lambda self: self.closed)
    @rule()
    def submit_after_shutdown_is_refused(self) -> None:
        try:
            self.pool.submit(int)
        except RuntimeError:
            return
        raise AssertionError("submit after shutdown was accepted")

    def check_all_resolved(self) -> None:
        failures = 0
        for future, kind, value in self.futures:
            assert future.done()
            if future.cancelled():
                continue
            error = future._exception
            if error is None:
                assert kind in ("ok", "wait")
                assert future.result() == value
            else:
                failures += 1
                assert isinstance(error, Boom | RetryLater | TimeoutError), error
        stats = self.pool.statistics()
        assert stats.done == len(self.futures)
        assert stats.failed == failures
        assert (stats.queued, stats.running, stats.waiting_retry, stats.keys) == (0, 0, 0, 0)
        assert len(self.pool.unread_failures()) == failures

    @invariant()
    def counters_never_exceed_submissions(self) -> None:
        stats = self.pool.statistics()
        assert stats.done <= stats.submitted == len(self.futures)

    def teardown(self) -> None:
        self.gate.set()
        if not self.closed:
            self.pool.shutdown(wait=True)
            self.closed = True
            self.check_all_resolved()
        futures = [f for f, _, _ in self.futures]
        done, _ = wait(futures, timeout=10)
        assert len(done) == len(futures)
        for future in futures:
            with contextlib.suppress(Boom, RetryLater, TimeoutError, CancelledError):
                future.result(timeout=0)


TestPoolMachine = PoolMachine.TestCase
TestPoolMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
