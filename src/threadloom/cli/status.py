"""``threadloom status``: how many URLs of a store are in each state."""

from __future__ import annotations

import json

import click

from threadloom._problems import PROCESS_FAILED
from threadloom._units import human_bytes
from threadloom.cli._stores import open_existing

_REASONS = 10  # the most frequent failure reasons listed


@click.command()
@click.argument("store")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(store: str, as_json: bool) -> None:
    """Count the URLs of STORE by state (total, done, failed, invalid, pending) and bytes.

    Also counts the done URLs whose processing (--process) failed: process_failed
    ("processing failed", as the fetch summary and report call them), and lists the
    most frequent reasons of failed and invalid URLs (in JSON, error_reasons: [reason,
    URLs] pairs), e.g. "disallowed by robots.txt".

    Safe to run while a fetch is writing to the same store.
    """
    opened = open_existing(store)
    try:
        counts = opened.counts()
        reasons = opened.error_reasons(limit=_REASONS) if counts.failed or counts.invalid else []
    finally:
        opened.close()
    fields = {
        "total": counts.total,
        "done": counts.done,
        "failed": counts.failed,
        "invalid": counts.invalid,
        "pending": counts.pending,
        "bytes": counts.bytes,
        "process_failed": counts.process_failed,
    }
    if as_json:
        click.echo(json.dumps({**fields, "error_reasons": reasons}))
        return
    # rich costs ~25 ms of start-up; --json, which scripts poll, does without it.
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=store, title_justify="left", show_edge=False)
    table.add_column("state")
    table.add_column("URLs", justify="right")
    for name in ("done", "failed", "invalid", "pending", "total"):
        table.add_row(name, str(fields[name]))
        if name == "done" and counts.process_failed:  # as the fetch summary shows it
            table.add_row(f"  {PROCESS_FAILED}", str(counts.process_failed))
    console = Console()
    console.print(table)
    if reasons:  # as the fetch summary shows them
        from rich.markup import escape  # noqa: PLC0415

        top = Table(title="top error reasons", title_justify="left", show_edge=False)
        top.add_column("URLs", justify="right")
        top.add_column("reason")
        for reason, count in reasons:
            top.add_row(str(count), escape(reason))
        console.print(top)
    console.print(f"{human_bytes(counts.bytes)} stored", highlight=False)
