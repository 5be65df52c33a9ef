"""Adding input to a store: URL lines, or rows of a columnar input (CSV, TSV, JSON lines)
whose other columns are kept with their URL (``urls.input``, schema version 3).

`Store.add_urls` runs `add_items` on a connection of its own; this module holds the
classification of each item and the batched ``INSERT OR IGNORE``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from threadloom.store._db import rows_per_statement, transaction
from threadloom.store._types import AddResult, State
from threadloom.store._urls import Invalid, Skip, Valid, classify_line, stored_key


@dataclass(frozen=True, slots=True)
class InputRow:
    """One row of a columnar input: its URL cell and its other columns.

    ``url`` is the URL cell as read (classified as a line is, by `classify_line`, except
    that a blank cell or one starting with ``#`` is invalid rather than skipped: the row
    is data, not a comment). ``input`` is the row's other columns as compact JSON text
    (an object), or None; it is stored with the URL, valid or not, in ``urls.input``.
    """

    url: str | bytes
    input: str | None = None


AddItem = bytes | str | InputRow | Invalid | None
"""What `Store.add_urls` takes: a URL line (bytes or str), an `InputRow`, an `Invalid`
(a row that could not be read, stored as invalid under its ``key`` with its
``reason``), or None (a pause in the input)."""

# A classified item as inserted: (URL or invalid key, state, reason, input columns).
Line = tuple[str, str, str | None, str | None]

_INSERT: Final = "INSERT OR IGNORE INTO urls (url, state, error, input) VALUES (?, ?, ?, ?)"


def classify_item(item: bytes | str | InputRow | Invalid) -> Line | None:
    """The row `add_items` inserts for ``item``, or None for a blank or ``#`` line."""
    if isinstance(item, Invalid):
        return (item.key, State.INVALID.value, item.reason, None)
    columns = None
    if isinstance(item, InputRow):
        columns = item.input
        verdict = classify_line(item.url)
        if isinstance(verdict, Skip):
            text = (
                item.url.decode("utf-8", "backslashreplace")
                if isinstance(item.url, bytes)
                else item.url
            ).strip()
            reason = "empty URL cell" if not text else "not a URL (expected http:// or https://)"
            verdict = Invalid(stored_key(text), reason)
    else:
        verdict = classify_line(item)
    if isinstance(verdict, Valid):
        return (verdict.url, State.PENDING.value, None, columns)
    if isinstance(verdict, Invalid):
        return (verdict.key, State.INVALID.value, verdict.reason, columns)
    return None


HAS_INPUT_KEY: Final = "has_input"
"""A meta row present once any input columns were stored: a store without it has none,
so a processing run need not look them up URL by URL."""


def has_input(conn: sqlite3.Connection) -> bool:
    """Whether ``conn``'s store has stored input columns (`HAS_INPUT_KEY`)."""
    try:
        row = conn.execute("SELECT 1 FROM meta WHERE key = ?", (HAS_INPUT_KEY,)).fetchone()
    except sqlite3.OperationalError:  # no meta table yet
        return False
    return row is not None


def add_items(
    conn: sqlite3.Connection,
    items: Iterable[AddItem],
    *,
    batch_size: int,
    max_delay: float,
    on_input: Callable[[], None] | None = None,
) -> AddResult:
    """Insert ``items`` into ``conn``'s store in order, committing ``batch_size`` at a
    time or once a batch is ``max_delay`` seconds old (at the next item or pause); see
    `Store.add_urls` for the semantics. A URL (or invalid key) already in the store is
    left as it was, its earlier input columns included: the first row of a URL wins.
    ``on_input`` is called before a batch with input columns is committed (so whoever
    reads a committed row after it knows there are columns to read)."""
    added = duplicates = invalid = skipped = 0
    batch: list[Line] = []
    batch_started = 0.0

    def insert_batch() -> None:
        nonlocal added, duplicates, invalid
        if on_input is not None and any(line[3] is not None for line in batch):
            on_input()
        new_valid, new_invalid = _insert_lines(conn, batch)
        added += new_valid
        invalid += new_invalid
        duplicates += len(batch) - new_valid - new_invalid
        batch.clear()

    for item in items:
        if item is None:
            if batch and time.monotonic() - batch_started >= max_delay:
                insert_batch()
            continue
        line = classify_item(item)
        if line is None:
            skipped += 1
            continue
        batch.append(line)
        if len(batch) == 1:
            batch_started = time.monotonic()
        if len(batch) >= batch_size or time.monotonic() - batch_started >= max_delay:
            insert_batch()
    if batch:
        insert_batch()
    return AddResult(added, duplicates, invalid, skipped)


def _insert_lines(conn: sqlite3.Connection, batch: list[Line]) -> tuple[int, int]:
    """Insert one batch of classified lines in one transaction; return (new valid, new invalid)."""
    new_valid = new_invalid = 0
    with transaction(conn):
        # Runs of the same kind keep input order and let rowcount tell the kinds apart.
        start = 0
        while start < len(batch):
            kind = batch[start][1]
            end = start
            while end < len(batch) and batch[end][1] == kind:
                end += 1
            cursor = conn.executemany(_INSERT, batch[start:end])
            if any(line[3] is not None for line in batch[start:end]):
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, '1')", (HAS_INPUT_KEY,)
                )
            if kind == State.PENDING.value:
                new_valid += cursor.rowcount
            else:
                new_invalid += cursor.rowcount
            start = end
    return new_valid, new_invalid


def inputs_of(conn: sqlite3.Connection, urls: list[str]) -> dict[str, str]:
    """The input columns (compact JSON text) of those of ``urls`` that have any, by URL:
    what a `JsonlStore` writes into each outcome line (one query per batch)."""
    found: dict[str, str] = {}
    per = rows_per_statement(conn, 1)
    for start in range(0, len(urls), per):
        chunk = urls[start : start + per]
        marks = ", ".join("?" * len(chunk))
        found.update(
            conn.execute(
                f"SELECT url, input FROM urls WHERE input IS NOT NULL AND url IN ({marks})",
                chunk,
            ).fetchall()
        )
    return found


def restore_inputs(conn: sqlite3.Connection, pairs: list[tuple[str, str]]) -> None:
    """Set the input columns of URLs that have none, from ``(input, url)`` pairs (a
    `JsonlStore` rebuilding its index from its lines); input a URL has is left as it is."""
    if pairs:
        conn.executemany("UPDATE urls SET input = ? WHERE url = ? AND input IS NULL", pairs)
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, '1')", (HAS_INPUT_KEY,))
