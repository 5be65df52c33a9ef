"""threadloom: threaded work in Python made safe, fast and visible.

The worker pool and everything around it (``Pool``, ``Retry``, ``Pipeline``, timers,
cancellation, traces) come from :mod:`threadloom.core`; the drop-in, deadlock-detecting
primitives (``Lock``, ``RLock``, ``Condition``, ``Semaphore``, ``BoundedSemaphore``,
``Event``, ``Barrier``) from :mod:`threadloom.sync`, whose configuration and findings
API stays there. Modules and names starting with an underscore are private.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"


if TYPE_CHECKING:
    from threadloom.core import (
        BrokenPool,
        CancelToken,
        CoreError,
        ErrorPolicy,
        Pipeline,
        PipelineRun,
        Pool,
        PoolFull,
        PoolStatistics,
        Retry,
        RetryLater,
        Span,
        Stage,
        StageStatistics,
        TaskCancelled,
        TaskEvent,
        TaskFuture,
        Throttle,
        ThrottleDecision,
        TimerHandle,
        TraceRecorder,
        cancel_requested,
        cancelled,
        current_token,
    )
    from threadloom.sync import (
        Barrier,
        BoundedSemaphore,
        BrokenBarrierError,
        Condition,
        DeadlockError,
        Event,
        Guarded,
        Lock,
        LockOrderError,
        LockOrderWarning,
        RLock,
        Semaphore,
        UnguardedAccessError,
        guarded_by,
        held,
        watch,
    )

# threadloom.core and threadloom.sync are imported on first use of one of their names
# (PEP 562): a program that only uses the pool does not pay for sync (~15 ms), and the
# command line loads only the parts of the core it uses.
# The core's public names are its __all__ (importing the package itself loads nothing).
_CORE_NAMES = frozenset(importlib.import_module("threadloom.core").__all__)
_SYNC_NAMES = frozenset(
    {
        "Barrier",
        "BoundedSemaphore",
        "BrokenBarrierError",
        "Condition",
        "DeadlockError",
        "Event",
        "Guarded",
        "Lock",
        "LockOrderError",
        "LockOrderWarning",
        "RLock",
        "Semaphore",
        "UnguardedAccessError",
        "guarded_by",
        "held",
        "watch",
    }
)


if not TYPE_CHECKING:  # type checkers see the imports above, and flag unknown names

    def __getattr__(name: str) -> object:
        if name in _CORE_NAMES or name in _SYNC_NAMES:
            package = "threadloom.core" if name in _CORE_NAMES else "threadloom.sync"
            value = getattr(importlib.import_module(package), name)
            globals()[name] = value  # later lookups do not come back here
            return value
        raise AttributeError(f"module 'threadloom' has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*globals(), *_CORE_NAMES, *_SYNC_NAMES})


__all__ = [
    "Barrier",
    "BoundedSemaphore",
    "BrokenBarrierError",
    "BrokenPool",
    "CancelToken",
    "Condition",
    "CoreError",
    "DeadlockError",
    "ErrorPolicy",
    "Event",
    "Guarded",
    "Lock",
    "LockOrderError",
    "LockOrderWarning",
    "Pipeline",
    "PipelineRun",
    "Pool",
    "PoolFull",
    "PoolStatistics",
    "RLock",
    "Retry",
    "RetryLater",
    "Semaphore",
    "Span",
    "Stage",
    "StageStatistics",
    "TaskCancelled",
    "TaskEvent",
    "TaskFuture",
    "Throttle",
    "ThrottleDecision",
    "TimerHandle",
    "TraceRecorder",
    "UnguardedAccessError",
    "__version__",
    "cancel_requested",
    "cancelled",
    "current_token",
    "guarded_by",
    "held",
    "watch",
]
