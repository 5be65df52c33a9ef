"""Timers on the pool's scheduler: ``Pool.after`` and ``Pool.every``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._scheduler import Scheduler, _Entry

__all__ = ["Timer", "TimerHandle"]


class TimerHandle:
    """A call of ``fn(*args)`` after a delay, once (``Pool.after``) or repeatedly
    (``Pool.every``), which those methods return; it is not a thread (unlike
    ``threading.Timer``) and is not built by hand. Each run is an ordinary pool task on a
    worker thread; the scheduler only decides when.

    Repeating timers run at a fixed rate: run ``n`` is due ``n * interval`` after the
    start. A due run is skipped (and counted in ``skipped``) while the previous run is still
    going, so runs never overlap and a slow run does not cause a burst of catch-up runs.
    If a run raises, a repeating timer stops (a failure that repeats forever helps nobody);
    the exception stays on ``last`` and counts as an unread pool failure until read.
    ``Pool.shutdown()`` cancels every timer.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        submit: Callable[[], Future[object]],
        delay: float,
        interval: float | None,
    ) -> None:
        self._scheduler = scheduler
        self._submit = submit
        self._interval = interval
        self._lock = threading.Lock()
        self._active = True
        self._entry: _Entry | None = None
        self._next = time.monotonic() + delay
        self.runs = 0
        """Runs started so far."""
        self.skipped = 0
        """Due runs skipped because the previous run had not finished."""
        self.last: Future[object] | None = None
        """The future of the latest run (None before the first)."""

    @property
    def interval(self) -> float | None:
        """Seconds between runs, or None for a one-shot timer."""
        return self._interval

    @property
    def active(self) -> bool:
        """True until the timer is cancelled, has fired (one-shot) or has stopped on error."""
        return self._active

    def _arm(self) -> None:
        self._entry = self._scheduler.call_at(self._next, self._fire)

    def cancel(self) -> bool:
        """Stop future runs; a run already started finishes. True if the timer was active."""
        with self._lock:
            was_active = self._active
            self._active = False
            entry = self._entry
            self._entry = None
        if entry is not None:
            entry.cancel()
        return was_active

    def _fire(self) -> None:
        started: Future[object] | None = None
        with self._lock:
            if not self._active:
                return
            previous = self.last
            if previous is not None and not previous.done():
                self.skipped += 1
            else:
                try:
                    started = self.last = self._submit()
                except RuntimeError:  # pool shut down between cancel checks
                    self._active = False
                    return
                self.runs += 1
            if self._interval is None:
                self._active = False
                self._entry = None
            else:
                now = time.monotonic()
                self._next += self._interval
                if self._next <= now:  # fell behind (a long pause): skip to the next slot
                    missed = int((now - self._next) // self._interval) + 1
                    self._next += missed * self._interval
                self._entry = self._scheduler.call_at(self._next, self._fire)
        if started is not None:
            # Outside the lock: a run that has already failed calls _after_run at once,
            # and its cancel() takes the lock.
            started.add_done_callback(self._after_run)

    def _after_run(self, future: Future[object]) -> None:
        # Look at the stored exception directly: exception() would mark it as read.
        if self._interval is not None and not future.cancelled() and future._exception is not None:
            self.cancel()

    def __repr__(self) -> str:
        kind = "once" if self._interval is None else f"every {self._interval:g} s"
        state = "active" if self._active else "inactive"
        return f"<Timer {kind}, {state}, runs={self.runs}>"


# The name this class had first (documented in docs/internals.md): kept for code that
# imports it from threadloom.core; it read like threading.Timer, which it is not.
Timer = TimerHandle
