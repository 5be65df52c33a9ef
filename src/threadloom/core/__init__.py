"""threadloom.core: a drop-in ThreadPoolExecutor with back-pressure, per-key limits,
retries, timers, deadlines, cooperative cancellation, statistics, traces and pipelines.

Standard library only. ``__all__`` is the public API, all of it re-exported by
``threadloom``. A few more names are importable from here for threadloom's other
packages and for typing, and are not part of that API: ``LeanFuture`` (the transport's
request futures), ``IDLE`` (what a Pipeline input yields while it waits), ``span_tracks``
(the fetch job's trace), ``KeyGate`` and ``Scheduler`` (per-key limits and rates, and
timers, for the fetch job's plain path, which admits URLs without a pool), the type
aliases ``EventKind``, ``Listener``, ``WhenFull`` and ``TrackBy``, and ``Timer``, the
earlier name of :class:`TimerHandle`.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._cancel import CancelToken, TaskCancelled, cancel_requested, cancelled, current_token
    from ._errors import BrokenPool, CoreError, PoolFull
    from ._events import EventKind as EventKind
    from ._events import Listener as Listener
    from ._events import PoolStatistics, TaskEvent
    from ._future import LeanFuture as LeanFuture
    from ._future import TaskFuture
    from ._idle import IDLE as IDLE
    from ._keys import KeyGate as KeyGate
    from ._pipeline import ErrorPolicy, Pipeline, PipelineRun, Stage, StageStatistics
    from ._pool import Pool
    from ._pool import WhenFull as WhenFull
    from ._retry import Retry, RetryLater
    from ._scheduler import Scheduler as Scheduler
    from ._throttle import KeyThrottle as KeyThrottle
    from ._throttle import Throttle, ThrottleDecision
    from ._timers import Timer as Timer
    from ._timers import TimerHandle
    from ._trace import Span, TraceRecorder
    from ._trace import TrackBy as TrackBy
    from ._trace import span_tracks as span_tracks

# Every name is imported on first use (PEP 562): a module that needs one part of the core
# (the fetch's plain path: KeyGate, Scheduler, Retry) does not load the rest (the pool,
# pipelines, traces, throttles: ~60 ms of a short run's start-up).
_WHERE: dict[str, str] = {
    "CancelToken": "_cancel",
    "TaskCancelled": "_cancel",
    "cancel_requested": "_cancel",
    "cancelled": "_cancel",
    "current_token": "_cancel",
    "BrokenPool": "_errors",
    "CoreError": "_errors",
    "PoolFull": "_errors",
    "EventKind": "_events",
    "Listener": "_events",
    "PoolStatistics": "_events",
    "TaskEvent": "_events",
    "LeanFuture": "_future",
    "TaskFuture": "_future",
    "KeyGate": "_keys",
    "IDLE": "_idle",
    "ErrorPolicy": "_pipeline",
    "Pipeline": "_pipeline",
    "PipelineRun": "_pipeline",
    "Stage": "_pipeline",
    "StageStatistics": "_pipeline",
    "Pool": "_pool",
    "WhenFull": "_pool",
    "Retry": "_retry",
    "RetryLater": "_retry",
    "Scheduler": "_scheduler",
    "KeyThrottle": "_throttle",
    "Throttle": "_throttle",
    "ThrottleDecision": "_throttle",
    "Timer": "_timers",
    "TimerHandle": "_timers",
    "Span": "_trace",
    "TraceRecorder": "_trace",
    "TrackBy": "_trace",
    "span_tracks": "_trace",
}

if not TYPE_CHECKING:  # type checkers see the imports above

    def __getattr__(name: str) -> object:
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module 'threadloom.core' has no attribute {name!r}")
        value = getattr(importlib.import_module(f"threadloom.core.{module}"), name)
        globals()[name] = value  # later lookups do not come back here
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_WHERE})


__all__ = [
    "BrokenPool",
    "CancelToken",
    "CoreError",
    "ErrorPolicy",
    "Pipeline",
    "PipelineRun",
    "Pool",
    "PoolFull",
    "PoolStatistics",
    "Retry",
    "RetryLater",
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
    "cancel_requested",
    "cancelled",  # the documented earlier name of cancel_requested
    "current_token",
]
