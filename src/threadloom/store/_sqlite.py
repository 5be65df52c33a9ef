"""`SqliteStore`: one SQLite file holds the index and the bodies (the default store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar

from threadloom.store._base import Item, Store


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
        max_batch: int = 256,
        max_delay: float = 0.2,
    ) -> None:
        """Open (or, with ``create``, create) the database at ``path``."""
        path = Path(path)
        if (not create or readonly) and not path.is_file():
            raise FileNotFoundError(f"no store at {str(path)!r}")
        super().__init__(
            str(path),
            path,
            create=create,
            readonly=readonly,
            max_batch=max_batch,
            max_delay=max_delay,
        )

    def _write_batch(self, conn: sqlite3.Connection, batch: list[Item]) -> None:
        super()._write_batch(conn, batch)
        # In batch order, so recording a URL twice in one batch ends with the last outcome.
        store = "INSERT OR REPLACE INTO bodies (seq, body) SELECT seq, ? FROM urls WHERE url = ?"
        drop = "DELETE FROM bodies WHERE seq = (SELECT seq FROM urls WHERE url = ?)"
        run: list[tuple[bytes, str]] = []
        for row, body in batch:
            if body is not None:
                run.append((body, row[0]))
                continue
            if run:
                conn.executemany(store, run)
                run = []
            conn.execute(drop, (row[0],))
        if run:
            conn.executemany(store, run)

    def _load_body(self, conn: sqlite3.Connection, seq: int, body_ref: str | None) -> bytes | None:
        row = conn.execute("SELECT body FROM bodies WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            return None
        body = row[0]
        assert isinstance(body, bytes)
        return body
