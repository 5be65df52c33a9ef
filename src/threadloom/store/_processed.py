"""Processing outcomes recorded after the fetch: the queries and the writer's update item.

A done URL's processing can be missing (it was fetched without ``--process``, or the run
stopped between the fetch and the processing) or failed (``process_error``); a later
run processes it again from its stored body and records the new outcome with
`Store.record_processed`, which changes ``processed`` and ``process_error`` only.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Final

from threadloom.store._db import transaction
from threadloom.store._types import NOT_PROCESSED

_PROCESSOR_KEY: Final = "processor"

# "+state" keeps SQLite on the rowid order (one forward scan), as for pending().
_TO_PROCESS: Final = "+state = 'done' AND (processed IS NULL OR process_error IS NOT NULL)"
_EVERY_DONE: Final = "+state = 'done'"


def to_process_condition(redo: bool) -> str:
    """The WHERE condition of done URLs to process: those whose processing is missing
    or failed, or with ``redo`` every done URL."""
    return _EVERY_DONE if redo else _TO_PROCESS


def to_process_sql(redo: bool, head: str = "response_head") -> str:
    """The paged query of `Store.to_process` (``seq > ? ... LIMIT ?``); ``head`` is the
    head column, or NULL for a store older than it opened read-only."""
    return (
        f"SELECT seq, url, http_status, content_type, final_url, {head} FROM urls"
        f" WHERE {to_process_condition(redo)} AND seq > ? ORDER BY seq LIMIT ?"
    )


def count_to_process(conn: sqlite3.Connection, redo: bool) -> int:
    """`Store.count_to_process` on ``conn``."""
    sql = f"SELECT count(*) FROM urls WHERE {to_process_condition(redo)}"
    return int(conn.execute(sql).fetchone()[0])


@dataclass(frozen=True, slots=True)
class ProcessedUpdate:
    """What the writer queue carries for `Store.record_processed`: a URL and its new
    ``processed`` (JSON text, None: no result) and ``process_error``."""

    url: str
    processed: str | None
    process_error: str | None


def processed_update(url: str, processed: object, process_error: str | None) -> ProcessedUpdate:
    """Validate and encode one processing outcome (in the recording thread, so that a
    value JSON cannot encode raises there, not in the writer)."""
    if not isinstance(url, str) or not url:
        raise TypeError(f"url must be a non-empty str, not {url!r}")
    if process_error is not None and not isinstance(process_error, str):
        raise TypeError(f"process_error must be a str or None, not {process_error!r}")
    if process_error is not None and processed is not NOT_PROCESSED:
        raise ValueError(f"a failed processing has no result: {url}")
    if process_error is None and processed is NOT_PROCESSED:
        raise ValueError(f"a processing outcome needs a result or an error: {url}")
    text = None if processed is NOT_PROCESSED else json.dumps(processed, allow_nan=False)
    return ProcessedUpdate(url, text, process_error)


def update_processed(conn: sqlite3.Connection, updates: list[ProcessedUpdate]) -> None:
    """Set ``processed`` and ``process_error`` of done URLs (inside the writer's
    transaction); a URL that is not done (any more) is left as it is."""
    conn.executemany(
        "UPDATE urls SET processed = ?, process_error = ? WHERE url = ? AND state = 'done'",
        [(u.processed, u.process_error, u.url) for u in updates],
    )


def stored_processor(conn: sqlite3.Connection) -> str | None:
    """The processor the store's meta table names (`save_processor`), if any."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_PROCESSOR_KEY,)).fetchone()
    return None if row is None else str(row[0])


def save_processor(conn: sqlite3.Connection, spec: str) -> None:
    """Name ``spec`` in the meta table as the processor of the store's results."""
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_PROCESSOR_KEY, spec)
        )
