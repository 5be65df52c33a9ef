"""A pool's counters, its statistics snapshot and its event delivery."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Hashable, Sequence

from ._events import EventKind, Listener, PoolStatistics, TaskEvent, describe
from ._task import Task
from ._threads import WorkerState

__all__ = ["Counters", "Emitter"]

_log = logging.getLogger("threadloom.core")


class Counters:
    """The pool's task counts; written under the pool lock. Successes on the fast path
    are counted in each worker's ``WorkerState.settled`` instead (no lock there)."""

    __slots__ = (
        "cancelled",
        "failed",
        "outstanding",
        "retried",
        "submitted",
        "succeeded",
        "timed_out",
    )

    def __init__(self) -> None:
        self.submitted = 0
        self.succeeded = 0
        self.failed = 0
        self.cancelled = 0
        self.timed_out = 0
        self.retried = 0
        # Accepted work (tasks, map items, map pullers) minus what was settled under the
        # lock; the fast path's settlements are in the workers' `settled` counters.
        self.outstanding = 0

    def idle(self, workers: Sequence[WorkerState]) -> bool:
        """True if no accepted work is left (tasks, retries, map items)."""
        return self.outstanding == sum(ws.settled for ws in workers)

    def snapshot(
        self,
        *,
        max_workers: int,
        threads: Collection[threading.Thread],
        workers: Sequence[WorkerState],
        awaiting: int,
        waiting_retry: int,
        keys: int,
    ) -> PoolStatistics:
        """The :class:`PoolStatistics` of these counts (call with the pool lock held)."""
        running = sum(1 for ws in workers if ws.current is not None or ws.mapping)
        running += awaiting
        # An attempt that ran past its deadline still runs, but its task is settled
        # (timed out): it must not be taken off the queued count a second time.
        # (ws.current read once: its worker clears it without the lock.)
        settled_running = sum(
            1 for ws in workers if (current := ws.current) is not None and current.done()
        )
        succeeded = self.succeeded + sum(ws.settled for ws in workers)
        settled = succeeded + self.failed + self.cancelled
        unsettled = self.submitted - settled - waiting_retry
        return PoolStatistics(
            max_workers=max_workers,
            workers=sum(1 for t in threads if t.is_alive()),
            submitted=self.submitted,
            queued=max(0, unsettled - (running - settled_running)),
            running=running,
            waiting_retry=waiting_retry,
            succeeded=succeeded,
            failed=self.failed,
            cancelled=self.cancelled,
            timed_out=self.timed_out,
            retried=self.retried,
            keys=keys,
            busy=tuple((ws.name, ws.busy) for ws in workers),
        )


class Emitter:
    """Delivers a pool's :class:`TaskEvent`s to its listeners.

    ``listeners`` is replaced, never changed in place, so a thread may iterate it without
    the lock; an empty tuple is what the hot paths check before building an event.
    """

    __slots__ = ("_lock", "listeners", "name")

    def __init__(self, name: str, lock: threading.Lock) -> None:
        self.name = name  # the pool's name, put in every event
        self._lock = lock
        self.listeners: tuple[Listener, ...] = ()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add ``listener``; returns the function that removes it."""
        with self._lock:
            self.listeners = (*self.listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                items = list(self.listeners)
                if listener in items:
                    items.remove(listener)
                self.listeners = tuple(items)

        return unsubscribe

    def task(
        self,
        kind: EventKind,
        task: Task,
        attempt: int,
        error: BaseException | None = None,
        *,
        thread: str | None = None,
    ) -> None:
        """Emit ``kind`` for an attempt of ``task``."""
        future = task.future
        self.raw(
            kind,
            thread=thread,
            task_id=future.task_id,
            key=future.key,
            attempt=attempt,
            label=task.label,
            error=None if error is None else describe(error),
        )

    def throttle(
        self, key: Hashable, limit: int, interval: float, reason: str, when: float
    ) -> None:
        """Emit a ``"throttle"`` event: ``key`` now has ``limit`` and ``interval``."""
        event = TaskEvent(
            "throttle",
            0,
            threading.current_thread().name,
            when,
            key,
            0,
            reason,
            None,
            self.name,
            limit,
            interval,
        )
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                _log.exception("pool %r: event listener %r raised", self.name, listener)

    def raw(
        self,
        kind: EventKind,
        *,
        task_id: int,
        key: Hashable | None,
        attempt: int,
        label: str,
        error: str | None,
        thread: str | None = None,
    ) -> None:
        """Emit an event from its fields (map items have no Task)."""
        event = TaskEvent(
            kind,
            task_id,
            threading.current_thread().name if thread is None else thread,
            time.monotonic(),
            key,
            attempt,
            label,
            error,
            self.name,
        )
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                _log.exception("pool %r: event listener %r raised", self.name, listener)
