"""``fetch``'s input: URL lines or rows with columns (``--input-format``, ``--url-column``)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Final, cast

import click

from threadloom.jobs._columns import (
    DEFAULT_URL_COLUMN,
    ColumnRows,
    InputFormat,
    InputFormatError,
    detect_format,
    read_input,
)
from threadloom.store import AddItem

SHOWN_BAD_ROWS: Final = 20
"""Bad rows said one line each on standard error; past that, one line says more are
left unsaid (a file of bad rows would bury the summary). All are in the store."""


class BadRows:
    """Says each bad row of ``source`` on standard error (the first `SHOWN_BAD_ROWS`)."""

    def __init__(self, source: str) -> None:
        self._source = source
        self.count = 0

    def __call__(self, line: int, reason: str) -> None:
        self.count += 1
        if self.count <= SHOWN_BAD_ROWS:
            click.echo(f"threadloom: {self._source} line {line}: {reason}", err=True)
        elif self.count == SHOWN_BAD_ROWS + 1:
            click.echo(
                f"threadloom: {self._source}: more bad rows, not shown; each is recorded"
                " invalid (threadloom export lists them)",
                err=True,
            )


def reads_columns(urls: str, input_format: str | None) -> bool:
    """Whether ``urls`` is read as rows with columns (CSV, TSV, JSON lines), given
    ``--input-format`` or detected from its name as `open_input` does."""
    return (input_format or detect_format(urls)) != "lines"


def open_input(urls: str, input_format: str | None, url_column: str | None) -> Iterable[AddItem]:
    """The items a fetch of ``urls`` adds: its lines, or its rows for a CSV, TSV or
    JSON-lines input (``input_format``, or detected from the file name). A CSV or TSV
    header is read now (waiting for it on a pipe), so a missing URL column is a usage
    error before the store is touched. Raises click.UsageError."""
    chosen = cast(InputFormat, input_format) if input_format else detect_format(urls)
    if chosen == "lines" and url_column is not None:
        raise click.UsageError(
            "--url-column is for --input-format csv, tsv or jsonl"
            + ("" if input_format else f" ({urls} is read as lines of URLs)")
        )
    source = "stdin" if urls == "-" else urls
    rows = read_input(
        urls, chosen, url_column=url_column or DEFAULT_URL_COLUMN, on_bad_row=BadRows(source)
    )
    if isinstance(rows, ColumnRows):
        try:
            rows.check_columns()
        except InputFormatError as exc:
            raise click.UsageError(f"{source}: {exc}") from None
        except OSError as exc:
            raise click.UsageError(f"{source}: cannot read it: {exc.strerror or exc}") from None
        except KeyboardInterrupt:
            # Ctrl-C while waiting for the header on a pipe: nothing was touched yet.
            click.echo("threadloom: interrupted before the header arrived", err=True)
            sys.exit(130)
    return rows
