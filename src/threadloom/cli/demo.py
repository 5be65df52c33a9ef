"""``threadloom demo``: the threading tutorials' job, live: 500 XML documents downloaded
4 at a time into SQLite."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from threadloom.cli._run import run_fetch
from threadloom.jobs import FetchOptions
from threadloom.server import FaultServer


@click.command()
@click.option(
    "--documents",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="How many generated XML documents the local server offers.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Documents fetched at once.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Scale of the server's heavy-tailed latency (0: none).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("threadloom-demo"),
    show_default=True,
    help="Where the store, the report and the trace go (replaced on each run).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
def demo(documents: int, jobs: int, latency: float, out_dir: Path, quiet: bool) -> None:
    """Fetch generated XML documents from a local server into a SQLite store.

    Starts the project's own HTTP server on 127.0.0.1 (heavy-tailed latency), fetches
    every document JOBS at a time with XML processing, prints the summary and writes an
    HTML report and a Chrome trace next to the store.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    store = out_dir / "demo.db"
    for stale in (store, out_dir / "demo.db-wal", out_dir / "demo.db-shm"):
        stale.unlink(missing_ok=True)
    with FaultServer(documents=documents, latency=latency) as server:
        urls = [server.url(f"/docs/{n}.xml") for n in range(documents)]
        (out_dir / "urls.txt").write_text("".join(f"{url}\n" for url in urls), encoding="utf-8")
        if not quiet:
            click.echo(
                f"demo: fetching {documents} XML documents from {server.base_url}, "
                f"{jobs} at a time, into {store}"
            )
        code = run_fetch(
            str(store),
            (url.encode() for url in urls),
            FetchOptions(jobs=jobs, per_host=jobs, process="xml", timeout=10.0),
            title=f"threadloom demo: {documents} XML documents, {jobs} at a time",
            quiet=quiet,
            trace_path=out_dir / "trace.json",
            report_path=out_dir / "report.html",
        )
    sys.exit(code)
