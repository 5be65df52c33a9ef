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

from ._cancel import CancelToken, TaskCancelled, cancel_requested, cancelled, current_token
from ._errors import BrokenPool, CoreError, PoolFull
from ._events import EventKind as EventKind
from ._events import Listener as Listener
from ._events import PoolStatistics, TaskEvent
from ._future import LeanFuture as LeanFuture
from ._future import TaskFuture
from ._keys import KeyGate as KeyGate
from ._pipeline import IDLE as IDLE
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
