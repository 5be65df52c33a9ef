"""Semaphore and BoundedSemaphore: the standard semantics, with visible waiters."""

from __future__ import annotations

from time import monotonic
from types import TracebackType

from threadloom.sync import _order, _state
from threadloom.sync._condition import Condition
from threadloom.sync._state import WaitRecord
from threadloom.sync._stats import SemaphoreStatistics, waiters_of


class Semaphore(_state.Unowned):
    """A drop-in ``threading.Semaphore``: a counter that blocks acquisitions at zero.

    A semaphore has no owner, so it is not part of the lock-order graph; its blocked
    acquirers are listed by :meth:`statistics` and by the watchdog.
    """

    _kind = "Semaphore"

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        # A plain _thread lock: the semaphore's own bookkeeping never appears in the
        # lock-order graph.
        self._cond = Condition(_state.allocate_lock())
        self._value = value
        self._initial = value
        self._records: list[WaitRecord] = []
        self._contended = 0
        self._site = _state.creation_site()
        self._label = _order.new_label(self._kind, self._site)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Decrement the counter, waiting (up to ``timeout`` s) while it is zero.

        Returns whether it was decremented. ValueError for a timeout on a non-blocking call.
        """
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        deadline = None if timeout is None else monotonic() + timeout
        with self._cond:
            if self._value == 0:
                if not blocking:
                    return False
                self._contended += 1
            while self._value == 0:
                remaining = None
                if deadline is not None:
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        return False
                self._cond._wait(remaining, self, self._records)
            self._value -= 1
            return True

    def __enter__(self) -> bool:
        return self.acquire()

    def release(self, n: int = 1) -> None:
        """Increment the counter by ``n`` and wake up to ``n`` waiters."""
        if n < 1:
            raise ValueError("n must be one or more")
        with self._cond:
            self._check_release(n)
            self._value += n
            self._cond.notify(n)

    def _check_release(self, n: int) -> None:
        """Unbounded: any number of releases is allowed."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _holder(self) -> str:
        return f"value {self._value}"

    def statistics(self) -> SemaphoreStatistics:
        """A frozen snapshot: value, initial value, waiters, contended acquisitions."""
        return SemaphoreStatistics(
            label=self._label,
            value=self._value,
            initial=self._initial,
            waiters=waiters_of(self._records),
            contended=self._contended,
        )

    def _value_repr(self) -> str:
        return str(self._value)

    def __repr__(self) -> str:
        return (
            f"<threadloom.{self._kind} at {id(self):#x} {self._label} "
            f"waiters={len(self._records)} contended={self._contended}: "
            f"value={self._value_repr()}>"
        )


class BoundedSemaphore(Semaphore):
    """A drop-in ``threading.BoundedSemaphore``: ValueError if released above its initial value."""

    _kind = "BoundedSemaphore"

    def _check_release(self, n: int) -> None:
        if self._value + n > self._initial:
            raise ValueError("Semaphore released too many times")

    def _value_repr(self) -> str:
        return f"{self._value}/{self._initial}"
