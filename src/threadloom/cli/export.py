"""``threadloom export``: a store's URLs as JSON lines, or its bodies as files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

import click

from threadloom.cli._stores import open_existing
from threadloom.store import Outcome, State, Store, open_store


@click.command()
@click.argument("store")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "dir"]),
    default="jsonl",
    show_default=True,
    help="jsonl: one object per URL; dir: the bodies as files.",
)
@click.option(
    "--to",
    "target",
    default=None,
    help="jsonl: a file (default: standard output); dir: the directory (required).",
)
def export(store: str, fmt: str, target: str | None) -> None:
    """Export STORE.

    jsonl writes one object per URL with url, state (done|failed|invalid|pending),
    http_status, sha256, size, attempts, error, fetched_at and the processing result.
    dir writes every done URL's body into a directory, under a safe name derived from
    the URL (the directory is itself a store: status and export work on it).
    """
    source = open_existing(store)
    try:
        if fmt == "jsonl":
            if target is None:
                _export_jsonl(source, sys.stdout)
            else:
                with open(target, "w", encoding="utf-8") as handle:
                    _export_jsonl(source, handle)
        else:
            if target is None:
                raise click.UsageError("--format dir needs --to DIRECTORY")
            written = _export_dir(source, target)
            click.echo(f"{written} documents written to {target}", err=True)
    finally:
        source.close()


def _export_jsonl(source: Store, out: TextIO) -> None:
    for row in source.export():
        out.write(json.dumps(row, ensure_ascii=False))
        out.write("\n")


def _export_dir(source: Store, target: str) -> int:
    """Copy every done URL's body into the directory store at ``target``."""
    Path(target).mkdir(parents=True, exist_ok=True)
    written = 0
    with open_store(target.rstrip("/") + "/") as destination:
        destination.add_urls(str(row["url"]) for row in source.export() if _is_done(row))
        for row in source.export():
            url = str(row["url"])
            body = source.read_body(url) if _is_done(row) else None
            if body is None:
                continue
            status = row.get("http_status")
            destination.record(
                Outcome(
                    url=url,
                    state=State.DONE,
                    http_status=status if isinstance(status, int) else None,
                    body=body,
                    attempts=0,
                )
            )
            written += 1
    return written


def _is_done(row: dict[str, object]) -> bool:
    return row["state"] == State.DONE
