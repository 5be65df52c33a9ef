"""Shared by ``fetch`` and ``demo``: run a fetch job, print its summary, write its files."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import click
from rich.console import Console

from threadloom.jobs import (
    FetchJob,
    FetchOptions,
    ProcessorSpecError,
    ProgressMode,
    render_summary,
    write_outputs,
)
from threadloom.store import StoreError


def run_fetch(
    store: str,
    lines: Iterable[bytes] | None,
    options: FetchOptions,
    *,
    title: str,
    quiet: bool = False,
    trace_path: Path | None = None,
    report_path: Path | None = None,
) -> int:
    """Run one fetch job and return the process exit code (0, 1 or 130).

    Raises click.UsageError (exit 2) for a store or processor that cannot be used.
    """
    progress: ProgressMode = "quiet" if quiet else "auto"
    try:
        job = FetchJob(
            store,
            options,
            progress=progress,
            record_trace=trace_path is not None or report_path is not None,
        )
    except ProcessorSpecError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        result = job.run(lines)
    except (StoreError, ValueError, OSError) as exc:
        raise click.UsageError(f"store {store}: {exc}") from None
    except KeyboardInterrupt:
        # Ctrl-C before fetching began (while reading the input): nothing is lost, the
        # lines read so far are committed and the rest are read again next time.
        click.echo("threadloom: interrupted; run the same command again to resume", err=True)
        return 130
    summary = result.summary
    if not quiet:
        render_summary(summary, Console(file=sys.stdout))
    settings: Mapping[str, str] = {
        "store": store,
        "jobs": str(options.jobs),
        "per host": str(options.per_host),
        "rate": "unlimited" if options.rate is None else f"{options.rate:g}/s per host",
        "retries": str(options.retries),
        "timeout": f"{options.timeout:g} s",
        "process": options.process or "none",
    }
    write_outputs(
        result, title=title, settings=settings, trace_path=trace_path, report_path=report_path
    )
    if not quiet:
        for label, path in (("trace", trace_path), ("report", report_path)):
            if path is not None:
                click.echo(f"{label}: {path}")
    return summary.exit_code
