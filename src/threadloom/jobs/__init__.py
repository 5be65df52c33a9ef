"""The fetch job: input -> fetch -> process -> store; resume; summary; trace; report."""

import importlib
from typing import TYPE_CHECKING, Any

from threadloom._units import human_bytes
from threadloom.jobs._columns import InputFormatError, read_input
from threadloom.jobs._fetch import (
    DEFAULT_MAX_SIZE,
    MAX_TIME_FACTOR,
    MIN_RATE,
    FetchJob,
    FetchOptions,
    FetchResult,
    RequestSetupError,
    StoreUnavailable,
)
from threadloom.jobs._input import InputReader, PendingFollower, input_outcome, read_lines
from threadloom.jobs._outputs import write_outputs
from threadloom.jobs._process import (
    InputResponse,
    ProcessorSpecError,
    load_processor,
    xml_summary,
)
from threadloom.jobs._progress import ProgressMode, ProgressReporter
from threadloom.jobs._summary import RunSummary, render_summary, summarise_store

if TYPE_CHECKING:
    from threadloom.jobs._report import ReportData, TimelineSpan, write_report
    from threadloom.jobs._stored import StoredOutcome, StoredProcessing
    from threadloom.jobs._trace import RunTrace
else:
    # Imported on first use: the report module takes ~8 ms to load and most runs write no
    # report; the trace's loads the core's tracing, which a plain run does not use.
    _LAZY = {
        "ReportData": "_report",
        "TimelineSpan": "_report",
        "write_report": "_report",
        "RunTrace": "_trace",
        # Processing earlier runs' documents: only runs with --process.
        "StoredOutcome": "_stored",
        "StoredProcessing": "_stored",
    }

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"threadloom.jobs.{module}"), name)

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})


__all__ = [
    "DEFAULT_MAX_SIZE",
    "MAX_TIME_FACTOR",
    "MIN_RATE",
    "FetchJob",
    "FetchOptions",
    "FetchResult",
    "InputFormatError",
    "InputReader",
    "InputResponse",
    "PendingFollower",
    "ProcessorSpecError",
    "ProgressMode",
    "ProgressReporter",
    "ReportData",
    "RequestSetupError",
    "RunSummary",
    "RunTrace",
    "StoreUnavailable",
    "StoredOutcome",
    "StoredProcessing",
    "TimelineSpan",
    "human_bytes",
    "input_outcome",
    "load_processor",
    "read_input",
    "read_lines",
    "render_summary",
    "summarise_store",
    "write_outputs",
    "write_report",
    "xml_summary",
]
