"""TaskFuture: a standard Future that also knows its attempts, key and cancel token."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING, RUNNING
from typing import Any, TypeVar

from ._cancel import CancelToken

__all__ = ["TaskFuture", "settled_outcome"]

_T = TypeVar("_T")

_SETTLED = (FINISHED, CANCELLED, CANCELLED_AND_NOTIFIED)
_CANCELLED = (CANCELLED, CANCELLED_AND_NOTIFIED)


class TaskFuture(Future[_T]):
    """A :class:`concurrent.futures.Future` returned by every :class:`Pool` submission.

    It resolves exactly once: with the result, with the last attempt's exception, with
    :class:`TimeoutError` when its deadline passes, or as cancelled. Beyond the standard
    API it offers:

    attempts: attempts started so far (after resolution: how many were made).
    key, label, task_id: as given to / assigned by ``Pool.submit_task``.
    token: the task's :class:`CancelToken`.

    ``cancel()`` follows the standard contract (True only if the task had not started)
    with two additions: it also sets the task's token, so a running task that checks
    :func:`cancelled` can stop early (``cancel()`` still returns False for it); and a
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

    def cancel(self) -> bool:
        """Cancel if not started (or waiting for a retry); in any case set the token."""
        with self._condition:
            settle = self._retry_wait
            if settle is not None and self._state == RUNNING:
                self._retry_wait = None
                # No thread runs it between attempts, so it may be cancelled: step back
                # to PENDING so that Future.cancel() accepts it.
                self._state = PENDING
            else:
                settle = None
            done = super().cancel()
        self.token.set("cancel")
        if settle is not None:
            # Tell as_completed()/wait() waiters now; no worker will pick the task up.
            self.set_running_or_notify_cancel()
            settle("cancel")
        return done

    def result(self, timeout: float | None = None) -> _T:
        """As :meth:`Future.result`; a raised task exception counts as read."""
        try:
            return super().result(timeout)
        except BaseException:
            if self._state == FINISHED:
                self._mark_read()
            raise

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
            done = super().cancel()
            notify = done and self._state == CANCELLED
        self.token.set("shutdown")
        if notify:
            self.set_running_or_notify_cancel()
        return done


def settled_outcome(future: Future[Any]) -> tuple[bool, BaseException | None, Any]:
    """``(cancelled, exception, result)`` of a settled ``future``, in one read.

    Only for a future known to be done (inside its done-callback, or after ``done()``
    said so): its fields no longer change then, so they are read without taking its
    condition three times over, as ``cancelled()``, ``exception()`` and ``result()``
    would (this runs once per task on the pool's and pipeline's hot paths). A
    :class:`TaskFuture`'s exception counts as read, as ``exception()`` would make it.
    """
    if future._state in _CANCELLED:
        return True, None, None
    exc = future._exception
    if exc is not None:
        if isinstance(future, TaskFuture):
            future._mark_read()
        return False, exc, None
    return False, None, future._result
