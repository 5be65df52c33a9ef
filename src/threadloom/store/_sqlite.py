"""`SqliteStore`: one SQLite file holds the index and the bodies (the default store)."""

from __future__ import annotations

import functools
import itertools
import sqlite3
from pathlib import Path
from typing import ClassVar

from threadloom.store._base import Item, Store
from threadloom.store._db import rows_per_statement
from threadloom.store._writer import DEFAULT_WRITER_SETTINGS, WriterSettings


class SqliteStore(Store):
    """Index and bodies in one SQLite database file (``.db``, ``.sqlite``, ``.sqlite3``).

    Bodies are in a table of their own (``bodies``, keyed by the URL's ``seq``), written
    in the same transaction as the URL's row, so a done row always has its body.
    """

    kind: ClassVar[str] = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        readonly: bool = False,
        settings: WriterSettings = DEFAULT_WRITER_SETTINGS,
    ) -> None:
        """Open (or, with ``create``, create) the database at ``path``; ``settings`` tunes
        the writer thread."""
        path = Path(path)
        if (not create or readonly) and not path.is_file():
            raise FileNotFoundError(f"no store at {str(path)!r}")
        super().__init__(str(path), path, create=create, readonly=readonly, settings=settings)

    def _write_batch(self, conn: sqlite3.Connection, batch: list[Item]) -> None:
        super()._write_batch(conn, batch)
        # Only a URL's last outcome in the batch decides its body (store or drop are
        # both idempotent), so the rows can go in two multi-row statements.
        last: dict[str, bytes | None] = {}
        for row, body in batch:
            last[row[0]] = body
        stored = [(url, body) for url, body in last.items() if body is not None]
        dropped = [url for url, body in last.items() if body is None]
        per = rows_per_statement(conn, 2)
        for start in range(0, len(stored), per):
            chunk = stored[start : start + per]
            conn.execute(_store_sql(len(chunk)), list(itertools.chain.from_iterable(chunk)))
        per = rows_per_statement(conn, 1)
        for start in range(0, len(dropped), per):
            urls = dropped[start : start + per]
            conn.execute(_drop_sql(len(urls)), urls)

    def _load_body(self, conn: sqlite3.Connection, seq: int, body_ref: str | None) -> bytes | None:
        row = conn.execute("SELECT body FROM bodies WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            return None
        body = row[0]
        assert isinstance(body, bytes)
        return body


# The URL's row was upserted earlier in the same transaction, so the lookup finds its seq.
@functools.lru_cache(maxsize=64)
def _store_sql(rows: int) -> str:
    values = ", ".join(itertools.repeat("((SELECT seq FROM urls WHERE url = ?), ?)", rows))
    return f"INSERT OR REPLACE INTO bodies (seq, body) VALUES {values}"


@functools.lru_cache(maxsize=64)
def _drop_sql(rows: int) -> str:
    marks = ", ".join("?" * rows)
    return f"DELETE FROM bodies WHERE seq IN (SELECT seq FROM urls WHERE url IN ({marks}))"
