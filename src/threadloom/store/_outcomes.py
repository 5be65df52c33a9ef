"""Reading back the outcomes a closed SQLite store holds, bodies included, as `Outcome`
values another store can `Store.record`: how a scaled-out fetch moves what a worker
process stored in its shard file into the one store of the run.

Read straight from the file (read-only, one query, rows joined with their bodies in
``seq`` order) rather than through `Store.export` plus a `Store.read_body` per URL: a
merge of 100,000 small documents then costs one pass, not 200,000 queries, and the
values come back exactly as stored (``processed`` NULL is "not processed", JSON
``null`` is a result of None, which the export dict cannot tell apart).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from threadloom.store._types import NOT_PROCESSED, Outcome, State, StoreError

_SELECT = (
    "SELECT u.url, u.state, u.http_status, u.attempts, u.error, u.fetched_at,"
    " u.content_type, u.final_url, u.processed, u.process_error, u.response_head, b.body"
    " FROM urls u LEFT JOIN bodies b ON b.seq = u.seq"
    " WHERE u.state IN ('done', 'failed') ORDER BY u.seq"
)


def read_outcomes(path: str | Path) -> Iterator[Outcome]:
    """Yield an `Outcome` for every done or failed URL of the SQLite store at ``path``,
    in input order (pending URLs are skipped: they have no outcome yet).

    ``attempts`` is the URL's total in that store and ``fetched_at`` its stored time,
    so recording the outcome elsewhere carries both over. The file is opened read-only
    and never changed; a store being written by another process meanwhile is read as
    of the query's start (WAL snapshot). Raises `StoreError` for a file that is not a
    readable SQLite store.
    """
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open: {exc}") from exc
    try:
        try:
            rows = conn.execute(_SELECT)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot read: {exc}") from exc
        for row in rows:
            (url, state, status, attempts, error, fetched_at, ctype, final, processed, perr) = row[
                :10
            ]
            head, body = row[10], row[11]
            done = state == State.DONE.value
            yield Outcome(
                url=str(url),
                state=State.DONE if done else State.FAILED,
                http_status=status,
                body=(bytes(body) if body is not None else b"") if done else None,
                attempts=int(attempts),
                error=error,
                fetched_at=fetched_at,
                content_type=ctype,
                final_url=final,
                processed=NOT_PROCESSED if processed is None else json.loads(processed),
                process_error=perr,
                response_head=None if head is None else str(head).encode("latin-1"),
            )
    finally:
        conn.close()
