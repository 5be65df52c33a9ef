"""What every stage did during a fetch run, lane by lane: the Chrome trace and the report's
spans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from threadloom.core import Span, TraceRecorder
from threadloom.core._trace import span_tracks

if TYPE_CHECKING:
    from threadloom.jobs._report import TimelineSpan


@dataclass(frozen=True, slots=True)
class RunTrace:
    """The attempts recorded across the stages of one run.

    ``spans`` are core :class:`~threadloom.core.Span` s with ``time.monotonic()`` times;
    ``origin`` is the monotonic time the run started, the zero of the report's axis.
    """

    recorder: TraceRecorder
    origin: float

    @property
    def spans(self) -> Sequence[Span]:
        """Every finished attempt of every stage, in order of finishing."""
        return self.recorder.spans()

    def save_chrome_trace(self, path: str | Path) -> Path:
        """Write the Chrome Trace Event file: one track per lane of each stage
        (``job-fetch``, ``job-fetch #2``, ...; ``span_tracks(by="pool")``), as many as
        the stage had attempts in flight at once."""
        return self.recorder.save_chrome_trace(path, by="pool")

    def timeline(self) -> list[TimelineSpan]:
        """The spans as the HTML report draws them, times relative to the run's start,
        each on its track (:func:`~threadloom.core.span_tracks` by pool: one lane per
        request the fetch stage had in flight at once, whichever thread started it).

        A failed attempt that was followed by another attempt of the same task is a
        ``"retry"``; the last failed attempt is ``"failed"``; a successful attempt is
        ``"done"`` in the fetch stage and ``"processed"`` in later stages.
        """
        # The report module is imported by the runs that draw one, not by every run.
        from threadloom.jobs._report import TimelineSpan  # noqa: PLC0415

        spans = self.spans
        last_attempt: dict[tuple[str, int], int] = {}
        for span in spans:
            task = (_stage_of(span.pool), span.task_id)
            last_attempt[task] = max(last_attempt.get(task, 0), span.attempt)
        timeline = []
        for span, track in zip(spans, span_tracks(spans, by="pool"), strict=True):
            stage = _stage_of(span.pool)
            if span.ok:
                outcome = "done" if stage == "fetch" else "processed"
            elif span.attempt < last_attempt[(stage, span.task_id)]:
                outcome = "retry"
            else:
                outcome = "failed"
            timeline.append(
                TimelineSpan(
                    thread=track,
                    start=span.start - self.origin,
                    end=span.end - self.origin,
                    label=span.label,
                    outcome=outcome,
                    attempt=span.attempt,
                    detail=span.error,
                )
            )
        return timeline

    def limit_timeline(self) -> list[tuple[float, str, int]]:
        """``(seconds since the run started, host, limit)`` for every change of a host's
        limit that ``--auto-throttle`` made, in time order."""
        return [
            (change.time - self.origin, str(change.key), change.limit)
            for change in self.recorder.limit_changes()
        ]


def _stage_of(pool_name: str) -> str:
    """``"job-process"`` -> ``"process"``: stage pools are named ``{pipeline}-{stage}``;
    a scaled-out run names each worker process's pools ``{pipeline}-{stage}@{worker}``
    (``"job-fetch@worker 1"`` -> ``"fetch"``), so each worker gets its own lanes."""
    return pool_name.partition("-")[2].partition("@")[0]
