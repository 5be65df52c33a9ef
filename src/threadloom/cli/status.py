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
    ("processing failed", as the fetch summary and report call them), the done URLs by
    the result of their last refresh (fetch --refresh): refresh_confirmed (unchanged),
    refresh_changed (replaced) and refresh_failed (stored body kept), and lists the
    most frequent reasons of failed and invalid URLs (in JSON, error_reasons: [reason,
    URLs] pairs), e.g. "disallowed by robots.txt".

    Safe to run while a fetch is writing to the same store.
    """
    opened = open_existing(store)
    try:
        counts = opened.counts()
        refreshed = opened.refresh_counts()
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
        "refresh_confirmed": refreshed.confirmed,
        "refresh_changed": refreshed.changed,
        "refresh_failed": refreshed.failed,
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
    # Parts of done, as the fetch summary names them; only for a store ever refreshed.
    last_refresh = zip(
        ("unchanged", "changed", "failed to refresh"),
        (refreshed.confirmed, refreshed.changed, refreshed.failed),
        strict=True,
    )
    for name in ("done", "failed", "invalid", "pending", "total"):
        table.add_row(name, str(fields[name]))
        if name == "done" and counts.process_failed:  # as the fetch summary shows it
            table.add_row(f"  {PROCESS_FAILED}", str(counts.process_failed))
        if name == "done":
            for label, count in last_refresh:
                if count:
                    table.add_row(f"  last refresh: {label}", str(count))
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
