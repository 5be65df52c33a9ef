"""Shared by ``fetch`` and ``demo``: run a fetch job, print its summary, write its files."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from threadloom._redact import redact_line
from threadloom.jobs import (
    FetchJob,
    FetchOptions,
    ProcessorSpecError,
    ProgressMode,
    RequestSetupError,
    StoreUnavailable,
    render_summary,
    write_outputs,
)
from threadloom.store import AddItem, AddResult, NotAStoreError, StoreError

if TYPE_CHECKING:
    from threadloom.distribute import DistributedFetchJob, ScaleOut


def run_fetch(
    store: str,
    lines: Iterable[AddItem] | None,
    options: FetchOptions,
    *,
    title: str,
    source: str | None = None,
    quiet: bool = False,
    trace_path: Path | None = None,
    report_path: Path | None = None,
    scale: ScaleOut | None = None,
) -> int:
    """Run one fetch job and return the process exit code (0, 1 or 130).

    Raises click.UsageError (exit 2) for a store or processor that cannot be used. An
    unreadable input, a store failing mid-run or an unwritable report or trace path is
    one line on standard error and exit status 1. An input without a single URL line
    (``source`` names it) is one line of warning on standard error and does not change
    the exit status: the run still resumes what the store holds, and a generated list
    that happens to be empty is no failure, but a wrong file should not pass unnoticed.
    ``title`` heads the summary and the report. ``scale`` runs the fetching on Dask
    workers (``--processes``/``--cluster``; `threadloom.distribute`, imported only then).
    """
    progress: ProgressMode = "quiet" if quiet else "auto"
    record_trace = trace_path is not None or report_path is not None
    outputs = [path for path in (trace_path, report_path) if path is not None]
    job: FetchJob | DistributedFetchJob
    cluster_errors: tuple[type[Exception], ...] = ()  # none without --processes/--cluster
    try:
        if scale is None:
            job = FetchJob(
                store, options, progress=progress, record_trace=record_trace, outputs=outputs
            )
        else:
            from threadloom.distribute import ClusterUnavailable, DistributedFetchJob  # noqa: PLC0415

            cluster_errors = (ClusterUnavailable,)

            job = DistributedFetchJob(
                store, options, scale, progress=progress, record_trace=record_trace, outputs=outputs
            )
    except ProcessorSpecError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        result = job.run(lines)
    except RequestSetupError as exc:
        raise click.UsageError(str(exc)) from None
    except StoreUnavailable as exc:
        # A user's file or directory (left untouched): say how to go on.
        hint = "; choose another -o path" if isinstance(exc.__cause__, NotAStoreError) else ""
        raise click.UsageError(f"store {exc}{hint}") from None
    except StoreError as exc:
        # The store failed while running (disk full, ...): what was committed is kept.
        click.echo(f"threadloom: store {store}: {exc}; committed outcomes are kept", err=True)
        return 1
    except cluster_errors as exc:
        # A cluster that cannot be started or reached, or cannot serve the store.
        raise click.UsageError(str(exc)) from None
    except KeyboardInterrupt:
        # Ctrl-C while the store was being opened: nothing was fetched yet.
        click.echo("threadloom: interrupted; run the same command again to resume", err=True)
        return 130
    summary = result.summary
    if result.input_error is not None:
        click.echo(f"threadloom: {result.input_error}", err=True)
    elif _no_urls(result.added):
        click.echo(f"threadloom: {source or 'input'}: no URLs in the list", err=True)
    for note in result.notes:
        click.echo(f"threadloom: {store}: {note}", err=True)
    if not quiet:
        # rich costs ~25 ms of start-up; a -q run never needs it.
        from rich.console import Console  # noqa: PLC0415

        render_summary(summary, Console(file=sys.stdout), title=title)
    settings: Mapping[str, str] = {
        "store": store,
        "jobs": str(options.jobs),
        "per host": str(options.per_host),
        "rate": "unlimited" if options.rate is None else f"{options.rate:g}/s per host",
        "retries": str(options.retries),
        "timeout": f"{options.timeout:g} s",
        "max time": "none" if (limit := options.attempt_time_limit) is None else f"{limit:g} s",
        "process": _processing(options),
        "max redirects": str(options.max_redirects),
        "refresh": _refreshing(options),
        "robots.txt": "obeyed" if options.robots else "not read",
        "user agent": options.user_agent or "none",
        # Names only: a header's value may be a token; a proxy's password is hidden.
        "headers": ", ".join(line.split(":")[0].rstrip(";") for line in options.headers) or "none",
        "proxy": "from the environment"
        if options.proxy is None
        else redact_line(options.proxy) or "none",
    }
    try:
        write_outputs(
            result, title=title, settings=settings, trace_path=trace_path, report_path=report_path
        )
    except OSError as exc:
        click.echo(f"threadloom: cannot write {exc.filename or 'output'}: {exc.strerror}", err=True)
        return 1
    if not quiet:
        for label, path in (("trace", trace_path), ("report", report_path)):
            if path is not None:
                click.echo(f"{label}: {path}")
    if result.input_error is not None and summary.exit_code == 0:
        return 1
    if summary.interrupted:
        _leave_lingering_work(summary.exit_code)
    return summary.exit_code


def _no_urls(added: AddResult | None) -> bool:
    """Whether the input, read to its end, had no URL line at all (only blank or ``#``
    lines, or nothing): a line already in the store or an invalid one is a URL line."""
    return added is not None and added.added + added.duplicates + added.invalid == 0


def _processing(options: FetchOptions) -> str:
    if options.process is None:
        return "none"
    return f"{options.process} (redo all)" if options.reprocess else options.process


def _refreshing(options: FetchOptions) -> str:
    if not options.refresh:
        return "off"
    older = options.refresh_older_than
    return "every done URL" if older is None else f"done URLs older than {older:g} s"


def _leave_lingering_work(code: int) -> None:
    """After Ctrl-C, exit now if a job thread is still busy (a --process call that does
    not check its cancel token, a long parse): the interpreter would join it at exit
    and keep the user waiting for its whole run. The store is closed and the report
    written by now; the URL it was processing is still pending, so a resumed run
    fetches it again."""
    if any(t.name.startswith("job-") for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
