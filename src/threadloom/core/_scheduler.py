"""One thread per pool that runs short callbacks at given monotonic times.

Retries, deadlines and timers all live in one heap, so none of them costs a thread or a
sleeping worker. Callbacks must be quick and must not block: they hand real work to the
pool's workers.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__: list[str] = []

_log = logging.getLogger("threadloom.core")

# The longest single wait of the scheduler thread, in seconds (see _loop).
_LONGEST_WAIT = 3600.0


class _Entry:
    """A scheduled callback; ``cancel()`` makes it a no-op (it stays in the heap until due
    or until the heap is compacted)."""

    __slots__ = ("callback", "cancelled", "scheduler", "when")

    def __init__(self, when: float, callback: Callable[[], object], scheduler: Scheduler) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self.scheduler = scheduler

    def cancel(self) -> None:
        self.scheduler._cancel(self)


class Scheduler:
    """A heap of due times served by one lazily started thread.

    The thread exits as soon as no live entry remains (so an idle pool holds no scheduler
    thread and interpreter exit never waits for one) and is started again on demand.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()
        self._live = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_at(self, when: float, callback: Callable[[], object]) -> _Entry:
        """Run ``callback()`` on the scheduler thread at monotonic time ``when``; after
        `close`, the entry comes back cancelled and nothing runs."""
        entry = _Entry(when, callback, self)
        with self._cond:
            if self._closed:
                entry.cancelled = True
                return entry
            heapq.heappush(self._heap, (when, next(self._seq), entry))
            self._live += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=False)
                self._thread.start()
            elif self._heap[0][2] is entry:
                # Only a new earliest entry changes how long the thread should sleep.
                self._cond.notify()
        return entry

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Entry:
        """Run ``callback()`` on the scheduler thread ``delay`` seconds from now."""
        return self.call_at(time.monotonic() + delay, callback)

    def _cancel(self, entry: _Entry) -> None:
        with self._cond:
            if entry.cancelled:
                return
            entry.cancelled = True
            self._live -= 1
            if self._live == 0:
                self._heap.clear()
                self._cond.notify()
            elif len(self._heap) > 64 and self._live < len(self._heap) // 2:
                # Lazy deletion keeps cancel O(1); compacting stops a stream of tasks that
                # finish long before their deadlines from growing the heap without bound.
                self._heap = [item for item in self._heap if not item[2].cancelled]
                heapq.heapify(self._heap)

    def close(self) -> None:
        """Cancel every entry not yet run and refuse new ones (their owner stops, and a
        callback still running elsewhere must not arm another); the thread then exits."""
        with self._cond:
            self._closed = True
            for _when, _seq, entry in self._heap:
                entry.cancelled = True
            self._heap.clear()
            self._live = 0
            self._cond.notify()

    def join_idle(self) -> None:
        """Wait for the scheduler thread to exit if nothing is left to run; else return.

        Called by the pool's ``shutdown(wait=True)`` from a thread other than the
        scheduler's (a callback that shuts its own pool down returns at once).
        """
        while True:
            with self._cond:
                thread = self._thread
                if thread is None or self._live or thread is threading.current_thread():
                    return
                self._cond.notify()
            # In slices: a callback running right now may schedule something new, and
            # then the thread stays (and this returns) instead of exiting.
            thread.join(0.05)
            if not thread.is_alive():
                return

    def pending(self) -> int:
        """Number of live (not yet run, not cancelled) entries."""
        with self._cond:
            return self._live

    def _loop(self) -> None:
        cond = self._cond
        heap = self._heap
        while True:
            with cond:
                while True:
                    heap = self._heap
                    while heap and heap[0][2].cancelled:
                        heapq.heappop(heap)
                    if not heap:
                        # Nothing left: let the thread go; call_at starts a new one.
                        self._thread = None
                        return
                    delay = heap[0][0] - time.monotonic()
                    if delay <= 0:
                        entry = heapq.heappop(heap)[2]
                        entry.cancelled = True  # ran: a later cancel() must not count it
                        self._live -= 1
                        break
                    # Capped: a lock wait longer than threading.TIMEOUT_MAX (~49 days)
                    # raises OverflowError, which would kill this thread (a key_rate of
                    # 1e-300 asks for that); the loop waits again until the entry is due.
                    cond.wait(min(delay, _LONGEST_WAIT))
            try:
                entry.callback()
            except BaseException:
                _log.exception("scheduler callback %r raised", entry.callback)
