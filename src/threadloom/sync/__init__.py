"""threadloom.sync: drop-in threading primitives that catch deadlocks.

``Lock``, ``RLock``, ``Condition``, ``Semaphore``, ``BoundedSemaphore``, ``Event`` and
``Barrier`` behave exactly like their ``threading`` namesakes (CPython's own
``Lib/test/lock_tests.py`` runs against them) and in addition:

- know who holds them, where it was acquired, who waits and for how long
  (``statistics()``, :func:`held`, the reprs, :func:`watch`);
- record the order in which locks are nested and report an acquisition that closes a
  cycle before it blocks (:class:`LockOrderWarning` or :class:`LockOrderError`, see
  :func:`configure`);
- raise :class:`DeadlockError` in a thread that would otherwise block forever, and only
  then: a wait that some running thread could still end is left to the watchdog.

Every exception raised here derives from :class:`SyncError`. A Lock released by another
thread than its acquirer (or declared with :func:`ownerless`) leaves the graphs;
:func:`suppress` and :func:`load_suppressions` silence lock-order findings by where
their locks were created.

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
    SyncError,
    UnguardedAccessError,
)
from threadloom.sync._event import Event
from threadloom.sync._findings import Finding, clear_findings, findings, subscribe, suppressed
from threadloom.sync._guard import Guarded, guarded_by
from threadloom.sync._lock import Lock, RLock, held, ownerless
from threadloom.sync._patch import instrument, instrumented, uninstrument
from threadloom.sync._rules import Rule, load_suppressions, suppress
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
    "Rule",
    "Semaphore",
    "SemaphoreStatistics",
    "SyncError",
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
    "load_suppressions",
    "ownerless",
    "subscribe",
    "suppress",
    "suppressed",
    "uninstrument",
    "watch",
]
