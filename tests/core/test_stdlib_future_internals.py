"""Pins the insides of concurrent.futures that LeanFuture and TaskFuture rely on.

``threadloom.core._stdlib_future`` lists them; if a Python release renames a state, a
field of Future, or what ``wait()``/``as_completed()`` read on a future, these tests fail
here instead of the pool's futures misbehaving in use.
"""

from __future__ import annotations

import concurrent.futures._base as base
import inspect
import re
import threading
from concurrent.futures import FIRST_COMPLETED, Future, as_completed, wait

from threadloom.core import _stdlib_future as internals
from threadloom.core._future import LeanFuture, TaskFuture


def test_state_constants_are_the_standard_librarys() -> None:
    for name in ("PENDING", "RUNNING", "CANCELLED", "CANCELLED_AND_NOTIFIED", "FINISHED"):
        assert getattr(internals, name) is getattr(base, name), name
    assert set(internals.SETTLED_STATES) == {
        base.FINISHED,
        base.CANCELLED,
        base.CANCELLED_AND_NOTIFIED,
    }
    assert set(internals.CANCELLED_STATES) == {base.CANCELLED, base.CANCELLED_AND_NOTIFIED}
    # The states wait()/as_completed() test against are exactly these names.
    assert base._STATE_TO_DESCRIPTION_MAP.keys() == {
        base.PENDING,
        base.RUNNING,
        base.CANCELLED,
        base.CANCELLED_AND_NOTIFIED,
        base.FINISHED,
    }


def test_a_standard_future_has_exactly_the_listed_fields() -> None:
    assert set(vars(Future())) == set(internals.FUTURE_FIELDS)


def test_lean_and_task_futures_set_every_listed_field() -> None:
    futures: tuple[Future[object], ...] = (LeanFuture(), TaskFuture())
    for future in futures:
        assert set(internals.FUTURE_FIELDS) <= set(vars(future)), type(future)
        assert future._state is base.PENDING
        assert future._waiters == []


def _private_reads(fn: object) -> set[str]:
    return set(re.findall(r"\b(?:f|fs|future)\.(_[a-z_]+)", inspect.getsource(fn)))  # type: ignore[arg-type]


def test_wait_and_as_completed_read_only_the_listed_fields() -> None:
    seen: set[str] = set()
    for fn in (
        base.wait,
        base.as_completed,
        base._create_and_install_waiters,  # type: ignore[attr-defined]
        base._yield_finished_futures,  # type: ignore[attr-defined]
        base._AcquireFutures,
    ):
        seen |= _private_reads(fn)
    assert seen == set(internals.WAIT_READS)
    # _AcquireFutures takes each future's _condition with acquire()/release() only.
    acquire = inspect.getsource(base._AcquireFutures)
    assert "_condition.acquire()" in acquire
    assert "_condition.release()" in acquire


def test_waiters_offer_the_listed_notices() -> None:
    for name in internals.WAITER_NOTICES:
        assert callable(getattr(base._Waiter, name)), name


def test_wait_and_as_completed_accept_lean_futures() -> None:
    # The behaviour the names above exist for, end to end.
    futures = [LeanFuture[int]() for _ in range(3)]
    threading.Timer(0.01, futures[1].set_result, (1,)).start()
    done, _ = wait(futures, timeout=5, return_when=FIRST_COMPLETED)
    assert done == {futures[1]}
    futures[0].set_exception(ValueError("x"))
    futures[2].cancel()
    futures[2].set_running_or_notify_cancel()  # what an executor does: tells the waiters
    assert set(as_completed(futures, timeout=5)) == set(futures)


def test_raw_outcome_reads_the_three_outcomes() -> None:
    ok: Future[int] = Future()
    ok.set_result(3)
    failed: Future[int] = Future()
    error = ValueError("x")
    failed.set_exception(error)
    cancelled: Future[int] = Future()
    cancelled.cancel()
    assert internals.raw_outcome(ok) == (False, None, 3)
    assert internals.raw_outcome(failed) == (False, error, None)
    assert internals.raw_outcome(cancelled) == (True, None, None)
