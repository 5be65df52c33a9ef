"""Files a fetch run leaves behind besides the store: the Chrome trace and the HTML report."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from threadloom.jobs._fetch import FetchResult


def write_outputs(
    result: FetchResult,
    *,
    title: str,
    settings: Mapping[str, str],
    trace_path: Path | None = None,
    report_path: Path | None = None,
) -> None:
    """Write the trace and/or the report of ``result``; the run must have recorded a trace.

    Raises ValueError if a path is given but the run recorded no trace, and OSError
    naming the path given (not the temporary file written first) if one cannot be
    written.
    """
    if trace_path is None and report_path is None:
        return
    if result.trace is None:
        raise ValueError("this run recorded no trace: run it with record_trace=True")
    if trace_path is not None:
        with _named(trace_path):
            result.trace.save_chrome_trace(trace_path)
    if report_path is not None:
        # The report module (~8 ms to import) is loaded only by runs that write one.
        from threadloom.jobs._report import ReportData, write_report  # noqa: PLC0415

        summary = result.summary
        with _named(report_path):
            write_report(
                ReportData(
                    title=title,
                    started_at=result.started_at,
                    elapsed=summary.elapsed,
                    spans=result.trace.timeline(),
                    counts=summary.counts,
                    error_reasons=summary.error_reasons,
                    bytes_total=summary.bytes_total,
                    settings=settings,
                    finished=summary.finished_this_run,
                    process_failed=summary.process_failed,
                    process_reasons=summary.process_reasons,
                    headline=summary.headline(),
                    limits=result.trace.limit_timeline(),
                ),
                report_path,
            )


@contextlib.contextmanager
def _named(path: Path) -> Iterator[None]:
    """Re-raise an OSError with ``path`` as its file name: the writers go through a
    temporary file beside it, whose name would only puzzle the user."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
