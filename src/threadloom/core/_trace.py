"""TraceRecorder: turns a pool's events into spans and Chrome Trace Event JSON."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ._events import TaskEvent

if TYPE_CHECKING:
    from ._pool import Pool

__all__ = ["Span", "TraceRecorder"]


@dataclass(frozen=True, slots=True)
class Span:
    """One attempt of one task on one thread, from start to finish.

    thread: the worker's name. start, end: ``time.monotonic()`` values. label, key,
    attempt: as in :class:`TaskEvent`. ok: True if the attempt returned. error:
    ``"ExceptionType: message"`` if it raised. task_id: the pool's id of the task.
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
        self._open: dict[tuple[int, int, str], TaskEvent] = {}
        self._spans: list[Span] = []
        self._origin = time.monotonic()
        self._unsubscribes: list[Callable[[], None]] = [
            pool.subscribe(self._on_event) for pool in pools
        ]

    def _on_event(self, event: TaskEvent) -> None:
        ident = (event.task_id, event.attempt, event.thread)
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
                        )
                    )

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

    def chrome_trace(self) -> dict[str, object]:
        """The spans as a Chrome Trace Event document (``chrome://tracing``, Perfetto).

        One "X" (complete) event per span, timestamps in microseconds since the recorder
        was created, one ``tid`` per worker thread named by a "M" ``thread_name`` event,
        and ``args`` with label, attempt, key and error.
        """
        pid = os.getpid()
        spans = self.spans()
        tids: dict[str, int] = {}
        events: list[dict[str, object]] = []
        for span in spans:
            tid = tids.setdefault(span.thread, len(tids) + 1)
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
                    },
                }
            )
        meta: list[dict[str, object]] = [
            {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}
            for name, tid in tids.items()
        ]
        return {"traceEvents": meta + events, "displayTimeUnit": "ms"}

    def save_chrome_trace(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`chrome_trace` as JSON to ``path``; return the path."""
        target = Path(path)
        target.write_text(json.dumps(self.chrome_trace()), encoding="utf-8")
        return target
