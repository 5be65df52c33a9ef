"""``threadloom fetch``: fetch a list of URLs N at a time into a store, resumably."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from threadloom.cli._run import run_fetch
from threadloom.jobs import FetchOptions, read_lines


@click.command()
@click.argument("urls", type=click.Path(allow_dash=True, dir_okay=False, path_type=str))
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--per-host",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Most requests in flight to one host.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Most requests started per second per host (default: no limit).",
)
@click.option(
    "-o",
    "--out",
    default="threadloom.db",
    show_default=True,
    help="Store: FILE.db/.sqlite (SQLite), DIR/ (files), or FILE.jsonl.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to connect, and seconds without data (stall).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Further attempts for connection errors, timeouts, 408, 429 and 5xx.",
)
@click.option(
    "--max-size",
    type=click.IntRange(min=1),
    default=None,
    metavar="BYTES",
    help="Largest accepted body; larger downloads are aborted.",
)
@click.option(
    "--process",
    "process",
    default=None,
    metavar="xml|MODULE:FUNCTION",
    help="Process each body: 'xml' (safe parse: root tag, element count) or a "
    "function called with the response, whose JSON result is stored.",
)
@click.option(
    "--trace",
    "trace_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a Chrome trace (chrome://tracing, Perfetto).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a self-contained HTML report with a timeline.",
)
@click.option(
    "--skip-failed", is_flag=True, help="Do not retry URLs that failed in an earlier run."
)
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option(
    "--ca-bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Verify TLS certificates against the CA certificates in this PEM file"
    " instead of the system's.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
def fetch(
    urls: str,
    jobs: int,
    per_host: int,
    rate: float | None,
    out: str,
    timeout: float,
    retries: int,
    max_size: int | None,
    process: str | None,
    trace_path: Path | None,
    report_path: Path | None,
    skip_failed: bool,
    insecure: bool,
    ca_bundle: Path | None,
    quiet: bool,
) -> None:
    """Fetch every URL listed in URLS (a file, or - for standard input) into a store.

    One URL per line; blank lines and lines starting with # are ignored. Running the
    same command again resumes: done URLs are skipped, the rest are fetched.

    Exit status: 0 every URL done, 1 some failed or invalid, 2 usage error,
    130 interrupted.
    """
    if urls != "-" and not Path(urls).is_file():
        raise click.BadParameter(f"{urls}: no such file", param_hint="URLS")
    options = FetchOptions(
        jobs=jobs,
        per_host=per_host,
        rate=rate,
        timeout=timeout,
        retries=retries,
        max_size=max_size,
        process=process,
        retry_failed=not skip_failed,
        verify_tls=not insecure,
        ca_bundle=None if ca_bundle is None else str(ca_bundle),
    )
    code = run_fetch(
        out,
        read_lines(urls),
        options,
        title=f"threadloom fetch: {'stdin' if urls == '-' else Path(urls).name}",
        quiet=quiet,
        trace_path=trace_path,
        report_path=report_path,
    )
    sys.exit(code)
