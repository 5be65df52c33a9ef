"""Frozen snapshots returned by the primitives' ``statistics()`` methods."""

from __future__ import annotations

from dataclasses import dataclass
from time import monotonic

from threadloom.sync._state import WaitRecord


@dataclass(frozen=True)
class WaiterInfo:
    """One thread blocked on a primitive: its name and id, what it does, for how long (s)."""

    thread: str
    thread_id: int
    kind: str
    waited: float


def waiters_of(records: list[WaitRecord]) -> tuple[WaiterInfo, ...]:
    """Snapshot of a primitive's current waits, longest-waiting first."""
    now = monotonic()
    return tuple(
        WaiterInfo(r.thread.name, r.thread.ident, r.kind, now - r.since)
        for r in sorted(records, key=lambda r: r.since)
    )


@dataclass(frozen=True)
class LockStatistics:
    """State of a Lock or RLock at one moment.

    ``owner``/``owner_id``: the thread that acquired it (None when unlocked; for a Lock
    released by another thread, the last acquirer until the release); ``acquired_at``:
    ``file:line`` of that acquisition; ``count``: recursion depth (1 for a locked Lock);
    ``contended``: acquisitions that had to wait; ``total_wait``: seconds spent waiting by
    those acquisitions that succeeded.
    """

    label: str
    locked: bool
    owner: str | None
    owner_id: int | None
    acquired_at: str | None
    count: int
    waiters: tuple[WaiterInfo, ...]
    contended: int
    total_wait: float


@dataclass(frozen=True)
class ConditionStatistics:
    """State of a Condition: its lock (if it is a threadloom lock) and its waiters."""

    label: str
    lock: LockStatistics | None
    waiters: tuple[WaiterInfo, ...]


@dataclass(frozen=True)
class SemaphoreStatistics:
    """State of a (Bounded)Semaphore: ``value``, ``initial`` value (the bound) and waiters.

    ``contended`` counts acquisitions that had to wait.
    """

    label: str
    value: int
    initial: int
    waiters: tuple[WaiterInfo, ...]
    contended: int


@dataclass(frozen=True)
class EventStatistics:
    """State of an Event: whether it is set and who waits for it."""

    label: str
    is_set: bool
    waiters: tuple[WaiterInfo, ...]


@dataclass(frozen=True)
class BarrierStatistics:
    """State of a Barrier: parties, threads waiting in this cycle, broken flag, waiters."""

    label: str
    parties: int
    n_waiting: int
    broken: bool
    waiters: tuple[WaiterInfo, ...]
