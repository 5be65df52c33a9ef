"""Frozen values the pool hands out: task events and statistics snapshots."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal

__all__ = ["EventKind", "Listener", "PoolStatistics", "TaskEvent", "describe"]

EventKind = Literal["start", "finish", "retry", "cancelled", "timeout", "throttle"]


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One thing that happened to a task, delivered to :meth:`Pool.subscribe` listeners.

    kind: ``"start"`` (an attempt begins on ``thread``), ``"finish"`` (an attempt ended;
        ``error`` is None on success), ``"retry"`` (a failed attempt was re-scheduled;
        ``error`` says why), ``"cancelled"`` (the task was dropped before running),
        ``"timeout"`` (its deadline passed; the future failed with TimeoutError),
        ``"throttle"`` (the pool's throttle changed ``key``'s limit or spacing: see
        ``limit`` and ``interval``; ``label`` is the reason, ``"slow start"``,
        ``"healthy"``, ``"slow"``, ``"overload"``, ``"retry-after"`` or ``"policy"`` for
        the limit a key starts with; task_id and attempt are 0; emitted outside the pool's
        lock, so two decisions of one key may reach a listener out of order: ``time``
        orders them).
    task_id: unique per pool, shared by all attempts of a task.
    thread: name of the thread the event happened on.
    time: ``time.monotonic()`` when it happened.
    key, label: as given to ``submit_task`` (label defaults to the function's name).
    attempt: 1-based attempt number (0 for a task cancelled before its first attempt).
    error: ``"ExceptionType: message"`` for failures, else None.
    pool: the name of the pool the task belongs to.
    limit, interval: ``"throttle"`` events only (else None): the key's limit on tasks
        running at once, and the seconds between two of its starts (0: no spacing).
    """

    kind: EventKind
    task_id: int
    thread: str
    time: float
    key: Hashable | None
    attempt: int
    label: str
    error: str | None = None
    pool: str = ""
    limit: int | None = None
    interval: float | None = None


Listener = Callable[[TaskEvent], object]


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    """A snapshot of a pool's counters (see :meth:`Pool.statistics`).

    Counts are of tasks (a ``map`` item counts as one task; timer runs count too).
    max_workers: the ceiling (the target after :meth:`Pool.resize`); workers: threads
    alive and working for the pool (after a shrink, more than ``max_workers`` until the
    workers in excess finish their current tasks).
    submitted: tasks accepted. queued: waiting to start an attempt (in the run queue or
    behind a full key). running: attempts executing now. waiting_retry: failed attempts
    waiting for their retry time. succeeded / failed: settled tasks (failed includes
    timed_out and tasks whose final attempt raised). cancelled: settled by cancellation
    before or between attempts. timed_out: futures failed by their deadline (the thread
    may still be running the attempt). retried: attempts re-scheduled. keys: keys with
    tasks running or waiting. busy: ``(thread name, seconds spent running tasks)`` per
    worker.
    """

    max_workers: int
    workers: int
    submitted: int
    queued: int
    running: int
    waiting_retry: int
    succeeded: int
    failed: int
    cancelled: int
    timed_out: int
    retried: int
    keys: int
    busy: tuple[tuple[str, float], ...]

    @property
    def done(self) -> int:
        """Tasks settled one way or another: succeeded + failed + cancelled."""
        return self.succeeded + self.failed + self.cancelled


def describe(exc: BaseException) -> str:
    """``"ExceptionType: message"``: how events, traces and logs name an exception."""
    return f"{type(exc).__name__}: {exc}"
