"""TaskFuture: a standard Future that also knows its attempts, key and cancel token."""

from __future__ import annotations

import logging
import threading
import time
from _thread import RLock, allocate_lock
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future, InvalidStateError
from typing import Any, TypeVar

from ._cancel import CancelToken
from ._stdlib_future import (
    CANCELLED,
    CANCELLED_AND_NOTIFIED,
    CANCELLED_STATES,
    FINISHED,
    PENDING,
    RUNNING,
    SETTLED_STATES,
    raw_outcome,
)
from ._waiting import wait_slice

__all__ = ["LeanFuture", "TaskFuture", "settled_outcome"]

# The standard Future logs callback failures to this logger; so do ours.
_LOGGER = logging.getLogger("concurrent.futures")

_T = TypeVar("_T")

_SETTLED = SETTLED_STATES
_CANCELLED = CANCELLED_STATES


class LeanFuture(Future[_T]):
    """A :class:`concurrent.futures.Future` that costs less than half as much to use.

    It behaves exactly like the standard Future (same states, same exceptions, same
    callback order, and it works with ``concurrent.futures.wait``, ``as_completed`` and
    ``asyncio.wrap_future``) but holds a C-level ``RLock`` instead of a
    ``threading.Condition``, whose creation, ``with`` blocks and ``notify_all`` run
    Python code on every step of every future. A thread that waits in ``result()`` or
    ``exception()`` gets a lock of its own to sleep on, made only when it must wait.
    (Measured: create, add a callback, start, set and read a result took 1.3 us against
    3.05 us for the standard Future, Python 3.11.)

    ``_condition`` stays the name of that lock because ``wait()`` and
    ``as_completed()`` take it by that name; it offers acquire/release and ``with``, not
    ``wait``/``notify`` (nothing in the standard library calls those on a future's lock
    from outside the future). Every name of the standard Future's insides that this
    relies on is listed, and pinned by a test, in :mod:`._stdlib_future`.
    """

    # How to wake each thread asleep in result()/exception(); None while nobody waits.
    _sleepers: list[Callable[[], object]] | None = None

    def __init__(self) -> None:
        # Future.__init__ is skipped on purpose: it builds a threading.Condition.
        self._condition = RLock()  # type: ignore[assignment]
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters = []
        self._done_callbacks: list[Callable[[Future[_T]], object]] = []

    def cancel(self) -> bool:
        """Cancel the future unless it is running or finished; True if it is cancelled."""
        with self._condition:
            cancelled, now = self._cancel_locked()
        if now:
            self._run_callbacks()  # outside the lock, as the standard Future does
        return cancelled

    def cancelled(self) -> bool:
        """True if the future was cancelled."""
        return self._state in _CANCELLED

    def running(self) -> bool:
        """True while the future's work runs (``set_running_or_notify_cancel`` said so)."""
        return self._state == RUNNING

    def done(self) -> bool:
        """True once the future is cancelled or finished."""
        return self._state in _SETTLED

    def add_done_callback(self, fn: Callable[[Future[_T]], object]) -> None:
        """Call ``fn(future)`` when the future settles, or now if it has; callbacks run in
        the order added, and an exception from one is logged, not raised."""
        with self._condition:
            if self._state not in _SETTLED:
                self._done_callbacks.append(fn)
                return
        try:
            fn(self)
        except Exception:
            _LOGGER.exception("exception calling callback for %r", self)

    def result(self, timeout: float | None = None) -> _T:
        """The result; raises the work's exception, `CancelledError`, or `TimeoutError`
        when ``timeout`` seconds pass first (None: wait as long as it takes)."""
        if self._state not in _SETTLED:
            self._wait(timeout)
        state = self._state
        if state == FINISHED:
            exc = self._exception
            if exc is None:
                return self._result  # type: ignore[return-value]
            try:
                raise exc
            finally:
                # The traceback holds this frame: without its locals, no reference
                # cycle exception -> traceback -> frame -> self -> exception, which
                # would keep both alive until the cyclic GC runs.
                del exc, self
        if state in _CANCELLED:
            raise CancelledError()
        raise TimeoutError()

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The work's exception (None if it returned); raises `CancelledError`, or
        `TimeoutError` when ``timeout`` seconds pass first."""
        if self._state not in _SETTLED:
            self._wait(timeout)
        state = self._state
        if state == FINISHED:
            return self._exception
        if state in _CANCELLED:
            raise CancelledError()
        raise TimeoutError()

    def set_running_or_notify_cancel(self) -> bool:
        """For executors: mark running (True), or tell wait()/as_completed() of a cancel
        (False). Raises `RuntimeError` if already running or finished."""
        with self._condition:
            state = self._state
            if state == PENDING:
                self._state = RUNNING
                return True
            if state == CANCELLED:
                self._notify_cancelled_locked()
                return False
            _LOGGER.critical("Future %s in unexpected state: %s", id(self), state)
            raise RuntimeError("Future in unexpected state")

    def set_result(self, result: _T) -> None:
        """For executors: finish with ``result``; `InvalidStateError` if already settled."""
        self._finish(result, None, "add_result")

    def set_exception(self, exception: BaseException | None) -> None:
        """For executors: finish with ``exception``; `InvalidStateError` if settled."""
        self._finish(None, exception, "add_exception")

    def _finish(self, result: _T | None, exception: BaseException | None, notice: str) -> None:
        """Settle as FINISHED, tell wait()/as_completed() through their waiter's
        ``notice`` method (``add_result`` or ``add_exception``), wake sleepers, then run
        the callbacks outside the lock."""
        with self._condition:
            if self._state in _SETTLED:
                raise InvalidStateError(f"{self._state}: {self!r}")
            self._result = result
            self._exception = exception
            self._state = FINISHED
            for waiter in self._waiters:
                getattr(waiter, notice)(self)
            if self._sleepers is not None:
                self._wake_sleepers()
        self._run_callbacks()

    def _run_callbacks(self) -> None:
        """Call the done-callbacks in order; log (and go past) what one raises."""
        for callback in self._done_callbacks:
            try:
                callback(self)
            except Exception:
                _LOGGER.exception("exception calling callback for %r", self)

    def _cancel_locked(self) -> tuple[bool, bool]:
        """cancel()'s state change, with ``_condition`` held: (cancelled, just now). The
        caller runs the callbacks after letting go of the lock if it was just now."""
        state = self._state
        if state in (RUNNING, FINISHED):
            return False, False
        if state in _CANCELLED:
            return True, False
        self._state = CANCELLED
        self._wake_sleepers()
        return True, True

    def _notify_cancelled_locked(self) -> None:
        """CANCELLED -> CANCELLED_AND_NOTIFIED: tell wait()/as_completed() (lock held)."""
        self._state = CANCELLED_AND_NOTIFIED
        for waiter in self._waiters:
            waiter.add_cancelled(self)

    def _wait(self, timeout: float | None) -> None:
        """Sleep until the future settles or ``timeout`` passes (Ctrl-C ends it: see
        :mod:`._waiting`)."""
        sleep: Callable[[float | None], bool]
        if threading.Event.__module__ == "threading":
            lock = allocate_lock()
            lock.acquire()
            wake: Callable[[], object] = lock.release

            def sleep(seconds: float | None) -> bool:
                return lock.acquire(True, -1 if seconds is None else seconds)

        else:
            # threading's primitives are patched (threadloom.sync's instrumentation):
            # an Event made now is one of its, so its watchdog and deadlock detector see
            # this thread wait, as they saw a standard Future's Condition.
            event = threading.Event()
            wake = event.set
            sleep = event.wait

        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self._condition:
            if self._state in _SETTLED:
                return
            if self._sleepers is None:
                self._sleepers = []
            self._sleepers.append(wake)
        woken = False
        try:
            while not (woken := sleep(wait_slice(deadline))):
                if deadline is not None and time.monotonic() >= deadline:
                    break
        finally:
            if not woken:
                with self._condition:
                    if self._sleepers is not None and wake in self._sleepers:
                        self._sleepers.remove(wake)

    def _wake_sleepers(self) -> None:
        """Wake every thread in `_wait` (call with ``_condition`` held)."""
        sleepers = self._sleepers
        if sleepers is not None:
            self._sleepers = None
            for wake in sleepers:
                wake()


class TaskFuture(LeanFuture[_T]):
    """A :class:`concurrent.futures.Future` returned by every :class:`Pool` submission.

    It resolves exactly once: with the result, with the last attempt's exception, with
    :class:`TimeoutError` when its deadline passes, or as cancelled. Beyond the standard
    API it offers:

    attempts: attempts started so far (after resolution: how many were made).
    key, label, task_id: as given to / assigned by ``Pool.submit_task``.
    token: the task's :class:`CancelToken`.

    ``cancel()`` follows the standard contract (True only if the task had not started)
    with two additions: it also sets the task's token, so a running task that checks
    :func:`cancel_requested` can stop early (``cancel()`` still returns False for it); and a
    task waiting between attempts for a retry counts as not started, so it is cancelled.

    Reading a failure through ``result()`` or ``exception()`` marks it as read for
    :meth:`Pool.raise_failures`.
    """

    # Class-level defaults, overridden per instance only when they differ, so that a
    # TaskFuture costs no more to create than a plain Future plus three stores.
    attempts: int = 0
    key: Hashable | None = None
    label: str | None = None
    task_id: int
    token: CancelToken
    _unread: dict[int, TaskFuture[object]] | None = None
    _read: bool = False
    # While the task waits for a retry: the pool's callback that settles it if the wait
    # ends through cancel() or a deadline instead of a new attempt.
    _retry_wait: Callable[[str], None] | None = None
    # Set by the pool while the task is parked behind its key: called once the future is
    # cancelled, so the pool forgets the task at once (see Pool._drop_parked).
    _on_cancel: Callable[[], None] | None = None

    def cancel(self) -> bool:
        """Cancel if not started (or waiting for a retry); in any case set the token."""
        with self._condition:
            settle = self._retry_wait
            if settle is not None and self._state == RUNNING:
                self._retry_wait = None
                # No thread runs it between attempts, so it may be cancelled: step back
                # to PENDING so that the cancel below accepts it.
                self._state = PENDING
            else:
                settle = None
            done, now = self._cancel_locked()
            if settle is not None:
                # No worker will pick the task up: tell wait()/as_completed() now,
                # before the callbacks (one may wait for a thread that is in wait()).
                self._notify_cancelled_locked()
        if now:
            # Outside the lock: a callback may wait for a thread that needs it (one in
            # wait() or as_completed() over this future).
            self._run_callbacks()
        self.token.set("cancel")
        if settle is not None:
            settle("cancel")
        elif now and self._on_cancel is not None:
            self._on_cancel()
        return done

    def result(self, timeout: float | None = None) -> _T:
        """As :meth:`Future.result`; a raised task exception counts as read."""
        try:
            return super().result(timeout)
        except BaseException:
            if self._state == FINISHED:
                self._mark_read()
            raise
        finally:
            del self  # no reference cycle through a raised exception's traceback

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """As :meth:`Future.exception`; a returned exception counts as read."""
        exc = super().exception(timeout)
        if exc is not None:
            self._mark_read()
        return exc

    # ---- used by the pool -------------------------------------------------------------

    def _mark_read(self) -> None:
        self._read = True
        unread = self._unread
        if unread is not None:
            unread.pop(self.task_id, None)

    def _was_read(self) -> bool:
        return self._read

    def _try_start(self) -> bool:
        """set_running_or_notify_cancel() that tolerates a deadline having failed it."""
        with self._condition:
            if self._state == FINISHED:
                return False
            return self.set_running_or_notify_cancel()

    def _succeed(self, result: _T) -> bool:
        try:
            self.set_result(result)
        except InvalidStateError:  # the deadline (or a cancel between attempts) came first
            return False
        return True

    def _fail(self, exc: BaseException) -> bool:
        try:
            self.set_exception(exc)
        except InvalidStateError:
            return False
        unread = self._unread
        if unread is not None and not self._read:
            unread[self.task_id] = self  # type: ignore[assignment]
            # A reader may have run between the check and the store: undo if so.
            if self._was_read():
                unread.pop(self.task_id, None)
        return True

    def _begin_retry_wait(self, settle: Callable[[str], None]) -> bool:
        with self._condition:
            if self._state != RUNNING:
                return False
            self._retry_wait = settle
            return True

    def _end_retry_wait(self) -> bool:
        """True if the wait ended normally (a new attempt may be queued)."""
        with self._condition:
            if self._retry_wait is None:
                return False
            self._retry_wait = None
            return True

    def _expire(self, error: BaseException) -> tuple[bool, Callable[[str], None] | None]:
        """Fail with ``error`` unless settled; return (failed it, retry-wait settle hook)."""
        with self._condition:
            if self._state in _SETTLED:
                return False, None
            settle = self._retry_wait
            self._retry_wait = None
        return self._fail(error), settle

    def _force_cancel(self) -> bool:
        """Cancel a task the pool holds in a queue, even between attempts (RUNNING)."""
        with self._condition:
            if self._state == RUNNING:
                self._retry_wait = None
                self._state = PENDING
            done, now = self._cancel_locked()
            if done and self._state == CANCELLED:
                # The pool drops the task: tell wait()/as_completed() now, before the
                # callbacks run.
                self._notify_cancelled_locked()
        if now:
            self._run_callbacks()
        self.token.set("shutdown")
        return done


def settled_outcome(future: Future[Any]) -> tuple[bool, BaseException | None, Any]:
    """``(cancelled, exception, result)`` of a settled ``future``, in one read.

    Only for a future known to be done (inside its done-callback, or after ``done()``
    said so): its fields no longer change then, so they are read without taking its
    condition three times over, as ``cancelled()``, ``exception()`` and ``result()``
    would (this runs once per task on the pool's and pipeline's hot paths). A
    :class:`TaskFuture`'s exception counts as read, as ``exception()`` would make it.
    """
    outcome = raw_outcome(future)
    if outcome[1] is not None and isinstance(future, TaskFuture):
        future._mark_read()
    return outcome
