"""`StoreReading`: what every store kind answers from its committed index (counts,
reasons, export, one URL's row, body, head and input), on a reading connection of its
own beside the writer's."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from threadloom.store._adding import has_input
from threadloom.store._db import EXPORT_COLUMNS, connect, export_dict, has_column, paged
from threadloom.store._refresh import REFRESH_COLUMNS
from threadloom.store._tallies import error_reasons, process_error_reasons, state_counts
from threadloom.store._types import StoreClosedError, StoreCounts


class StoreReading:
    """The reading half of `Store`: queries of committed data, safe from any thread
    (one reading connection under a lock). `Store` sets the attributes below and calls
    `_open_reader` once its index exists; a kind supplies `_load_body`."""

    _location: str
    _index_path: Path
    _readonly: bool
    _read_lock: threading.Lock
    _reader: sqlite3.Connection | None
    _has_input: bool

    def _open_reader(self) -> None:
        """Open the reading connection and learn which optional columns the index has
        (a store written by an older threadloom lacks some: they read as NULL)."""
        self._reader = reader = connect(self._index_path, create=False)
        head = "response_head" if has_column(reader, "urls", "response_head") else "NULL"
        inputs = "input" if has_column(reader, "urls", "input") else "NULL"
        self._head_column = head
        self._input_column = inputs
        self._has_refresh = has_column(reader, "urls", "confirmed_at")
        refresh = ", ".join(REFRESH_COLUMNS) if self._has_refresh else "NULL, NULL, NULL"
        self._export_columns = EXPORT_COLUMNS.format(head=head, input=inputs, refresh=refresh)
        # Set before any columns are committed by add_urls (`_saw_input`); a read-only
        # store may see another process add some, so it always looks.
        self._has_input = has_input(reader)

    def counts(self) -> StoreCounts:
        """Committed totals by state, the bytes of all done bodies, and how many done
        URLs failed processing (one pass over the table)."""
        with self._reading() as conn:
            return state_counts(conn)

    def count_pending(self, include_failed: bool = True, *, after: int = 0) -> int:
        """How many URLs `pending` would yield now with the same arguments (committed)."""
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT count(*) FROM urls WHERE {todo_condition(include_failed)} AND seq > ?",
                (after,),
            ).fetchone()
        return int(row[0])

    def error_reasons(self, limit: int = 10) -> list[tuple[str, int]]:
        """The ``limit`` most frequent reasons of failed and invalid URLs, with counts,
        most frequent first (ties by reason text)."""
        with self._reading() as conn:
            return error_reasons(conn, limit)

    def process_error_reasons(self, limit: int = 10) -> list[tuple[str, int]]:
        """The ``limit`` most frequent ``process_error`` reasons of done URLs, with counts,
        most frequent first (ties by reason text); `counts` has their total."""
        with self._reading() as conn:
            return process_error_reasons(conn, limit)

    def export(self, *, page_size: int = 1000) -> Iterator[dict[str, object]]:
        """Yield one dict per URL in input order, streamed in pages.

        Keys: ``url``, ``state``, ``http_status``, ``size``, ``sha256`` (of the stored
        body, done only), ``attempts`` (all runs), ``error`` (failed/invalid reason),
        ``fetched_at`` (ISO-8601 UTC, ``Z``), ``content_type``, ``final_url``,
        ``processed`` (the decoded JSON value), ``process_error``, ``status_line`` (the
        final response's, e.g. ``"HTTP/1.1 200 OK"``) and ``headers`` (its fields in
        order, names lower-cased, a value as a str, or a list of str for a field sent
        more than once; see `parse_head`), ``input`` (the other columns of the URL's
        input row as an object, see `add_urls`), and what its last refresh found
        (``--refresh``; `Refreshed`): ``confirmed_at`` (ISO-8601 UTC), ``refresh_result``
        (``confirmed``, ``changed``, ``failed``), ``refresh_error``. Missing values are
        None (the head of a URL recorded by a threadloom before version 2 of the schema
        too, and the input of a URL added as a plain line).
        """
        sql = f"SELECT {self._export_columns} FROM urls WHERE seq > ? ORDER BY seq LIMIT ?"
        for row in self._paged(sql, page_size):
            yield export_dict(row)

    def lookup(self, url: str) -> dict[str, object] | None:
        """The `export` dict of ``url`` (exact string), or None if it is not in the store."""
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {self._export_columns} FROM urls WHERE url = ?", (url,)
            ).fetchone()
        return None if row is None else export_dict(row)

    def read_body(self, url: str) -> bytes | None:
        """The stored body of ``url`` if it is done, else None (unknown or not done)."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT seq, body_ref FROM urls WHERE url = ? AND state = 'done'", (url,)
            ).fetchone()
            if row is None:
                return None
            return self._load_body(conn, row[0], row[1])

    def read_head(self, url: str) -> bytes | None:
        """The final response's status line and header lines of ``url`` as recorded
        (`Outcome.response_head`), or None (unknown, not done, or recorded without)."""
        head = self._column_of(url, self._head_column, "AND state = 'done'")
        return None if head is None else str(head).encode("latin-1")

    def read_input(self, url: str) -> dict[str, object] | None:
        """The other columns of ``url``'s input row (`InputRow`), decoded, or None (an
        unknown URL, or one added as a plain line or by an older threadloom). A store
        opened for writing that has no columns at all answers None without a query
        (the processing of every URL asks)."""
        if not self._has_input and not self._readonly:
            return None
        text = self._column_of(url, self._input_column)
        if text is None:
            return None
        columns = json.loads(str(text))
        return columns if isinstance(columns, dict) else None

    def _column_of(self, url: str, column: str, condition: str = "") -> object | None:
        """``column`` (an expression of the table's columns) of ``url``'s row, if the
        row exists and meets ``condition`` (SQL after the URL test); else None."""
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {column} FROM urls WHERE url = ? {condition}", (url,)
            ).fetchone()
        return None if row is None else row[0]

    def _load_body(self, conn: sqlite3.Connection, seq: int, body_ref: str | None) -> bytes | None:
        raise NotImplementedError

    def _paged(
        self,
        sql: str,
        page_size: int,
        *,
        after: int = 0,
        parameters: tuple[object, ...] = (),
    ) -> Iterator[tuple[object, ...]]:
        """`paged` on the store's index."""
        return paged(self._index_path, sql, page_size, after=after, parameters=parameters)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            if self._reader is None:
                raise StoreClosedError(f"{self._location} is closed")
            yield self._reader


def todo_condition(include_failed: bool) -> str:
    """The WHERE condition of URLs still to fetch."""
    # "+state" keeps SQLite on the rowid order: one forward scan over all pages, instead
    # of re-sorting both states' index ranges for every page.
    return "+state IN ('pending', 'failed')" if include_failed else "state = 'pending'"
