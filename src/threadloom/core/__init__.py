"""threadloom.core: a drop-in ThreadPoolExecutor with back-pressure, per-key limits,
retries, timers, deadlines, cooperative cancellation, statistics, traces and pipelines.

Standard library only.
"""

from ._cancel import CancelToken, TaskCancelled, cancelled, current_token
from ._errors import BrokenPool, PoolFull
from ._events import EventKind, Listener, PoolStatistics, TaskEvent
from ._future import LeanFuture, TaskFuture
from ._pipeline import IDLE, ErrorPolicy, Pipeline, PipelineRun, Stage, StageStatistics
from ._pool import Pool, WhenFull
from ._retry import Retry, RetryLater
from ._timers import Timer
from ._trace import Span, TraceRecorder, TrackBy, span_tracks

__all__ = [
    "IDLE",
    "BrokenPool",
    "CancelToken",
    "ErrorPolicy",
    "EventKind",
    "LeanFuture",
    "Listener",
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
    "Timer",
    "TraceRecorder",
    "TrackBy",
    "WhenFull",
    "cancelled",
    "current_token",
    "span_tracks",
]
