"""Barrier: the standard semantics, with visible waiters."""

from __future__ import annotations

from collections.abc import Callable
from threading import BrokenBarrierError
from time import monotonic

from threadloom.sync import _order, _state
from threadloom.sync._condition import Condition
from threadloom.sync._state import WaitRecord
from threadloom.sync._stats import BarrierStatistics, waiters_of

# The barrier's phases. Threads arrive while FILLING; the last one switches to DRAINING,
# and the barrier fills again once every thread has left.  RESETTING and BROKEN make
# the waiting threads leave with BrokenBarrierError.
_FILLING, _DRAINING, _RESETTING, _BROKEN = 0, 1, -1, -2


class Barrier(_state.Unowned):
    """A drop-in ``threading.Barrier`` for ``parties`` threads.

    ``wait()`` returns an index in ``range(parties)``, distinct for each thread of one
    cycle; ``action`` runs in one thread before the others are released; ``timeout`` is
    the default for ``wait``. A timeout, ``abort()`` or a failing action breaks the
    barrier: waiters get ``threading.BrokenBarrierError`` until ``reset()``.
    """

    def __init__(
        self,
        parties: int,
        action: Callable[[], object] | None = None,
        timeout: float | None = None,
    ) -> None:
        if parties < 1:
            raise ValueError("parties must be >= 1")
        self._cond = Condition(_state.allocate_lock())
        self._action = action
        self._timeout = timeout
        self._parties = parties
        self._phase = _FILLING
        self._count = 0
        self._records: list[WaitRecord] = []
        self._site = _state.creation_site()
        self._label = _order.new_label("Barrier", self._site)

    def wait(self, timeout: float | None = None) -> int:
        """Wait until ``parties`` threads have called wait; return this thread's index."""
        if timeout is None:
            timeout = self._timeout
        with self._cond:
            # Threads of the previous cycle must leave before this one can fill.
            while self._phase in (_DRAINING, _RESETTING):
                self._cond._wait(None, self, self._records)
            if self._phase == _BROKEN:
                raise BrokenBarrierError
            index = self._count
            self._count += 1
            try:
                if index + 1 == self._parties:
                    self._trip()
                else:
                    self._wait_for_trip(timeout)
                return index
            finally:
                self._count -= 1
                if self._count == 0 and self._phase in (_DRAINING, _RESETTING):
                    self._phase = _FILLING
                    self._cond.notify_all()

    def _trip(self) -> None:
        try:
            if self._action is not None:
                self._action()
        except BaseException:
            self._break()
            raise
        self._phase = _DRAINING
        self._cond.notify_all()

    def _wait_for_trip(self, timeout: float | None) -> None:
        deadline = None if timeout is None else monotonic() + timeout
        while self._phase == _FILLING:
            remaining = None
            if deadline is not None:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    self._break()
                    raise BrokenBarrierError
            self._cond._wait(remaining, self, self._records)
        if self._phase < 0:
            raise BrokenBarrierError

    def _break(self) -> None:
        self._phase = _BROKEN
        self._cond.notify_all()

    def reset(self) -> None:
        """Return to the initial state; threads waiting now get BrokenBarrierError."""
        with self._cond:
            if self._count > 0:
                if self._phase in (_FILLING, _BROKEN):
                    self._phase = _RESETTING
            else:
                self._phase = _FILLING
            self._cond.notify_all()

    def abort(self) -> None:
        """Break the barrier: current and future waits raise BrokenBarrierError."""
        with self._cond:
            self._break()

    @property
    def parties(self) -> int:
        """The number of threads required to pass the barrier."""
        return self._parties

    @property
    def n_waiting(self) -> int:
        """The number of threads waiting in the current cycle."""
        return self._count if self._phase == _FILLING else 0

    @property
    def broken(self) -> bool:
        """Whether the barrier is broken."""
        return self._phase == _BROKEN

    def _holder(self) -> str:
        return f"{self.n_waiting}/{self._parties} arrived"

    def statistics(self) -> BarrierStatistics:
        """A frozen snapshot: parties, waiting count, broken flag, waiters."""
        return BarrierStatistics(
            self._label, self._parties, self.n_waiting, self.broken, waiters_of(self._records)
        )

    def __repr__(self) -> str:
        state = "broken" if self.broken else f"waiters={self.n_waiting}/{self._parties}"
        return f"<threadloom.Barrier at {id(self):#x} {self._label}: {state}>"
