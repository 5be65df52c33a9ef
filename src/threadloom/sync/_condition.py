"""Condition: ``threading.Condition``'s semantics, with waits the detectors can see."""

from __future__ import annotations

import _thread
import contextlib
import warnings
from collections import deque
from collections.abc import Callable
from time import monotonic
from types import TracebackType
from typing import Protocol, TypeVar

from threadloom.sync import _order, _state, _waitfor
from threadloom.sync._errors import DeadlockError
from threadloom.sync._lock import RLock, _TrackedLock
from threadloom.sync._state import Waitable, WaitRecord
from threadloom.sync._stats import ConditionStatistics, waiters_of

T = TypeVar("T")


class SupportsLock(Protocol):
    """Any lock a Condition can be built on (threadloom, threading or ``_thread`` locks)."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...

    def __enter__(self) -> bool: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> object: ...


class Condition(_state.Unowned):
    """A drop-in ``threading.Condition``.

    ``lock`` defaults to a new threadloom :class:`RLock`. ``wait()`` without a timeout is
    visible to the watchdog and to the deadlock detector; it raises
    :class:`DeadlockError` only when every thread of the process is blocked forever.
    """

    def __init__(self, lock: SupportsLock | None = None) -> None:
        if lock is None:
            lock = RLock()
        self._lock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        # Use the lock's own hooks when it has them (threadloom and threading RLocks do).
        self._release_save: Callable[[], object] = getattr(
            lock, "_release_save", self._release_plain
        )
        self._acquire_restore: Callable[[object], None] = getattr(
            lock, "_acquire_restore", self._acquire_plain
        )
        self._is_owned: Callable[[], bool] = getattr(lock, "_is_owned", self._is_owned_plain)
        self._waiters: deque[_thread.LockType] = deque()
        self._records: list[WaitRecord] = []
        self._site = _state.creation_site()
        self._name: str | None = None

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.__exit__(exc_type, exc, tb)

    def _release_plain(self) -> None:
        self._lock.release()

    def _acquire_plain(self, saved: object) -> None:
        self._lock.acquire()

    def _is_owned_plain(self) -> bool:
        # A plain lock cannot say who holds it: "locked" is the best available answer,
        # the same one threading.Condition settles for.
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()  # type: ignore[attr-defined]
        self._waiters.clear()

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, block until notified or ``timeout`` seconds pass, re-acquire.

        Returns False if the timeout expired, True otherwise. RuntimeError if the calling
        thread does not hold the lock.
        """
        return self._wait(timeout, self, self._records)

    def _wait(self, timeout: float | None, target: Waitable, records: list[WaitRecord]) -> bool:
        """``wait`` on behalf of ``target`` (a Semaphore, Event or Barrier built on this)."""
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        # Each waiter blocks on a lock of its own, taken once here and released by
        # notify(): the wake-up is then targeted, in FIFO order.
        waiter = _state.allocate_lock()
        waiter.acquire()
        self._waiters.append(waiter)
        saved = self._release_save()
        state = _state.current_state()
        record = WaitRecord(state, target, timeout is not None, "waiting on")
        records.append(record)
        # Not None when a signal handler runs this inside another wait of the thread.
        outer = state.waiting
        state.waiting = record
        notified = False
        try:
            if timeout is None:
                notified = self._wait_untimed(waiter, record)
            elif timeout > 0:
                notified = waiter.acquire(True, timeout)
            else:
                notified = waiter.acquire(False)
            return notified
        finally:
            state.waiting = outer
            records.remove(record)
            self._acquire_restore(saved)
            if not notified:
                # notify() may already have taken it out.
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    @staticmethod
    def _wait_untimed(waiter: _thread.LockType, record: WaitRecord) -> bool:
        try:
            _waitfor.wait_untimed(waiter.acquire, record)
        except DeadlockError:
            # A notify that raced with the verdict wins: the wait ended after all.
            if waiter.acquire(False):
                return True
            raise
        return True

    def wait_for(self, predicate: Callable[[], T], timeout: float | None = None) -> T:
        """Wait until ``predicate()`` is true or ``timeout`` passes; return its last value."""
        deadline: float | None = None
        remaining = timeout
        result = predicate()
        while not result:
            if remaining is not None:
                if deadline is None:
                    deadline = monotonic() + remaining
                else:
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        break
            self.wait(remaining)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` waiting threads (FIFO). RuntimeError without the lock held.

        As in ``threading``, ``n`` is compared with 0 only while threads wait: with no
        waiter any value is accepted, with one a non-number raises TypeError.
        """
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        # threading's loop, test for test: ``n`` is only compared (and may be any
        # number, or anything at all when nobody waits), and a waiter leaves the queue
        # only after its release, so a signal handler raising in between loses no wake-up.
        waiters = self._waiters
        while waiters and n > 0:
            waiter = waiters[0]
            try:
                waiter.release()
            except RuntimeError:
                pass  # that wait already ended on its own (timeout, deadlock)
            else:
                n -= 1
            with contextlib.suppress(ValueError):
                waiters.remove(waiter)

    def notify_all(self) -> None:
        """Wake up every waiting thread."""
        self.notify(len(self._waiters))

    def notifyAll(self) -> None:
        """Deprecated alias of :meth:`notify_all`, as in ``threading``."""
        warnings.warn(
            "notifyAll() is deprecated, use notify_all() instead", DeprecationWarning, stacklevel=2
        )
        self.notify_all()

    # The wait-for graph's view is _state.Unowned's: nobody owns a condition.
    @property
    def _label(self) -> str:  # type: ignore[override]
        # Named on first use: the conditions inside Event, Semaphore and Barrier are
        # never shown, and should not use up numbers.
        if self._name is None:
            self._name = _order.new_label("Condition", self._site)
        return self._name

    def statistics(self) -> ConditionStatistics:
        """A frozen snapshot: the lock's statistics (threadloom locks only) and waiters."""
        lock = self._lock
        return ConditionStatistics(
            label=self._label,
            lock=lock.statistics() if isinstance(lock, _TrackedLock) else None,
            waiters=waiters_of(self._records),
        )

    def __repr__(self) -> str:
        return f"<threadloom.sync.Condition({self._lock!r}, {len(self._waiters)}) {self._label}>"
