"""threadloom.sync: drop-in threading primitives that catch deadlocks.

``Lock``, ``RLock``, ``Condition``, ``Semaphore``, ``BoundedSemaphore``, ``Event`` and
``Barrier`` behave exactly like their ``threading`` namesakes (CPython's own
``Lib/test/lock_tests.py`` runs against them) and in addition:

- know who holds them, where it was acquired, who waits and for how long
  (``statistics()``, :func:`held`, the reprs, :func:`watch`);
- record the order in which locks are nested and report an acquisition that closes a
  cycle before it blocks (:class:`LockOrderWarning` or :class:`LockOrderError`, see
  :func:`configure`);
- raise :class:`DeadlockError` in a thread that would otherwise block forever.

:func:`instrument` swaps them into ``threading`` for code that does not know about
threadloom (``threadloom check PROGRAM.py``, ``pytest --threadloom``), and
:class:`Guarded` / :func:`guarded_by` catch state used without its lock.
"""

from threading import BrokenBarrierError

from threadloom.sync._barrier import Barrier
from threadloom.sync._condition import Condition
from threadloom.sync._config import Config, configure, current_config
from threadloom.sync._errors import (
    DeadlockError,
    LockOrderError,
    LockOrderWarning,
    UnguardedAccessError,
)
from threadloom.sync._event import Event
from threadloom.sync._findings import Finding, clear_findings, findings, subscribe
from threadloom.sync._guard import Guarded, guarded_by
from threadloom.sync._lock import Lock, RLock, held
from threadloom.sync._patch import instrument, instrumented, uninstrument
from threadloom.sync._semaphore import BoundedSemaphore, Semaphore
from threadloom.sync._stats import (
    BarrierStatistics,
    ConditionStatistics,
    EventStatistics,
    LockStatistics,
    SemaphoreStatistics,
    WaiterInfo,
)
from threadloom.sync._watchdog import BlockedThread, Watchdog, watch

__all__ = [
    "Barrier",
    "BarrierStatistics",
    "BlockedThread",
    "BoundedSemaphore",
    "BrokenBarrierError",
    "Condition",
    "ConditionStatistics",
    "Config",
    "DeadlockError",
    "Event",
    "EventStatistics",
    "Finding",
    "Guarded",
    "Lock",
    "LockOrderError",
    "LockOrderWarning",
    "LockStatistics",
    "RLock",
    "Semaphore",
    "SemaphoreStatistics",
    "UnguardedAccessError",
    "WaiterInfo",
    "Watchdog",
    "clear_findings",
    "configure",
    "current_config",
    "findings",
    "guarded_by",
    "held",
    "instrument",
    "instrumented",
    "subscribe",
    "uninstrument",
    "watch",
]
