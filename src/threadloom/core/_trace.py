"""TraceRecorder: turns a pool's events into spans and Chrome Trace Event JSON."""

from __future__ import annotations

import heapq
import json
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from ._events import TaskEvent

if TYPE_CHECKING:
    from ._pool import Pool

__all__ = ["LimitChange", "Span", "TraceRecorder", "TrackBy", "span_tracks"]

TrackBy = Literal["thread", "pool"]


@dataclass(frozen=True, slots=True)
class Span:
    """One attempt of one task on one thread, from start to finish.

    thread: the name of the thread that started the attempt (a worker, or the thread
    that started it inline). start, end: ``time.monotonic()`` values. label, key,
    attempt: as in :class:`TaskEvent`. ok: True if the attempt returned. error:
    ``"ExceptionType: message"`` if it raised. task_id: the pool's id of the task.
    pool: the pool's name.
    """

    thread: str
    start: float
    end: float
    label: str
    key: Hashable | None
    attempt: int
    ok: bool
    error: str | None
    task_id: int = 0
    pool: str = ""


@dataclass(frozen=True, slots=True)
class LimitChange:
    """A throttle's decision for a key (a ``"throttle"`` :class:`TaskEvent`).

    time: ``time.monotonic()``. key: the key. limit: its tasks allowed at once from then
    on. interval: seconds between two of its starts (0: none). reason: the event's
    label. pool: the pool's name.
    """

    time: float
    key: Hashable | None
    limit: int
    interval: float
    reason: str
    pool: str


class TraceRecorder:
    """Records every attempt of the tasks of one or more pools while attached.

    ``TraceRecorder(pool, ...)`` subscribes at once (several pools, e.g. a pipeline's
    ``run.pools``, share one timeline); :meth:`close` (or leaving a ``with`` block)
    unsubscribes. Thread-safe. Memory grows with the number of attempts recorded.
    """

    def __init__(self, *pools: Pool) -> None:
        if not pools:
            raise TypeError("TraceRecorder needs at least one pool")
        self._lock = threading.Lock()
        self._open: dict[tuple[str, int, int, str], TaskEvent] = {}
        self._spans: list[Span] = []
        self._limits: list[LimitChange] = []
        self._origin = time.monotonic()
        self._unsubscribes: list[Callable[[], None]] = [
            pool.subscribe(self._on_event) for pool in pools
        ]

    def _on_event(self, event: TaskEvent) -> None:
        ident = (event.pool, event.task_id, event.attempt, event.thread)
        if event.kind == "start":
            with self._lock:
                self._open[ident] = event
        elif event.kind == "finish":
            with self._lock:
                start = self._open.pop(ident, None)
                if start is not None:
                    self._spans.append(
                        Span(
                            thread=event.thread,
                            start=start.time,
                            end=event.time,
                            label=event.label,
                            key=event.key,
                            attempt=event.attempt,
                            ok=event.error is None,
                            error=event.error,
                            task_id=event.task_id,
                            pool=event.pool,
                        )
                    )

        elif event.kind == "throttle" and event.limit is not None:
            change = LimitChange(
                event.time, event.key, event.limit, event.interval or 0.0, event.label, event.pool
            )
            with self._lock:
                self._limits.append(change)

    def limit_changes(self) -> list[LimitChange]:
        """The throttle decisions recorded so far, in time order."""
        with self._lock:
            return sorted(self._limits, key=lambda change: change.time)

    @classmethod
    def of_spans(cls, spans: Iterable[Span], *, origin: float) -> TraceRecorder:
        """A closed recorder holding ``spans`` (recorded elsewhere, e.g. by the worker
        processes of a scaled-out run, times already on this process's
        ``time.monotonic()`` clock); ``origin`` is the zero of its Chrome trace."""
        recorder = cls.__new__(cls)
        recorder._lock = threading.Lock()
        recorder._open = {}
        recorder._spans = list(spans)
        recorder._limits = []
        recorder._origin = origin
        recorder._unsubscribes = []
        return recorder

    def attach(self, *pools: Pool) -> None:
        """Record the attempts of ``pools`` too, from now on (a later pipeline of the
        same job shares the timeline); `close` detaches them with the others."""
        self._unsubscribes.extend(pool.subscribe(self._on_event) for pool in pools)

    def spans(self) -> list[Span]:
        """The finished attempts recorded so far, in order of finishing."""
        with self._lock:
            return list(self._spans)

    def close(self) -> None:
        """Stop recording (the spans stay available)."""
        while self._unsubscribes:
            self._unsubscribes.pop()()

    def __enter__(self) -> TraceRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.close()

    def chrome_trace(self, *, by: TrackBy = "thread") -> dict[str, object]:
        """The spans as a Chrome Trace Event document (``chrome://tracing``, Perfetto).

        One "X" (complete) event per span, timestamps in microseconds since the recorder
        was created, one ``tid`` per track of :func:`span_tracks` (grouped ``by`` worker
        thread or by pool, a lane per attempt in flight at once) named by a "M"
        ``thread_name`` event, and ``args`` with label, attempt, key, error and pool.
        """
        pid = os.getpid()
        spans = self.spans()
        tids: dict[str, int] = {}
        events: list[dict[str, object]] = []
        for span, track in zip(spans, span_tracks(spans, by=by), strict=True):
            tid = tids.setdefault(track, len(tids) + 1)
            events.append(
                {
                    "name": span.label,
                    "cat": "task" if span.ok else "task,error",
                    "ph": "X",
                    "pid": pid,
                    "tid": tid,
                    "ts": round((span.start - self._origin) * 1e6, 3),
                    "dur": round((span.end - span.start) * 1e6, 3),
                    "args": {
                        "label": span.label,
                        "attempt": span.attempt,
                        "key": None if span.key is None else str(span.key),
                        "error": span.error,
                        "task_id": span.task_id,
                        "pool": span.pool,
                    },
                }
            )
        meta: list[dict[str, object]] = [
            {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}
            for name, tid in tids.items()
        ]
        return {"traceEvents": meta + events, "displayTimeUnit": "ms"}

    def save_chrome_trace(self, path: str | os.PathLike[str], *, by: TrackBy = "thread") -> Path:
        """Write :meth:`chrome_trace` as JSON to ``path``; return the path."""
        target = Path(path)
        target.write_text(json.dumps(self.chrome_trace(by=by)), encoding="utf-8")
        return target


def span_tracks(spans: Sequence[Span], *, by: TrackBy = "thread") -> list[str]:
    """The track to draw each span on, for a timeline with no two spans of a track
    overlapping.

    ``by="thread"``: spans are grouped by the thread that started them; the track is
    the thread's name, or ``"{thread} #{n}"`` for the n-th lane (n >= 2) of a thread
    whose spans overlap. They overlap only for tasks that return futures
    (``returns_future``), where one thread starts many attempts that resolve later.
    ``by="pool"``: grouped by pool name instead, so the tracks are the pool's lanes,
    ``"{pool}"``, ``"{pool} #2"``, ...: one per attempt it had in flight at once, which
    is the useful view of a pool whose attempts start inline on other threads
    (``start_inline``), or of a pool of plain workers where thread identity does not
    matter.

    Lanes are packed greedily in order of start (each span takes the lowest lane free
    at its start), so a group gets as many lanes as it had spans in progress at once.
    """
    tracks = [""] * len(spans)
    groups: dict[str, list[int]] = {}
    for index, span in enumerate(spans):
        groups.setdefault(span.thread if by == "thread" else span.pool, []).append(index)
    for group, indices in groups.items():
        indices.sort(key=lambda i: (spans[i].start, spans[i].end))
        busy: list[tuple[float, int]] = []  # (end, lane) of spans still in progress
        free: list[int] = []  # lanes whose last span has ended
        lanes = 0
        for index in indices:
            span = spans[index]
            while busy and busy[0][0] <= span.start:
                heapq.heappush(free, heapq.heappop(busy)[1])
            if free:
                lane = heapq.heappop(free)
            else:
                lane = lanes
                lanes += 1
            heapq.heappush(busy, (span.end, lane))
            tracks[index] = group if lane == 0 else f"{group} #{lane + 1}"
    return tracks
