"""`SqliteStore`: one SQLite file holds the index and the bodies (the default store)."""

from __future__ import annotations

import functools
import itertools
import sqlite3
from pathlib import Path
from typing import ClassVar, Final

from threadloom.store._base import Store
from threadloom.store._db import open_error, rows_per_statement
from threadloom.store._lock import ProcessLock, check_holder
from threadloom.store._places import ensure_parent_directory
from threadloom.store._rows import Item
from threadloom.store._types import StoreClosedError
from threadloom.store._writer import DEFAULT_WRITER_SETTINGS, WriterSettings

LOCK_SUFFIX: Final = ".threadloom.lock"

# A bodies row is one SQLite record: a header (its own length, the NULL that stands for
# the rowid ``seq``, the blob's serial type: at most 1 + 1 + 5 bytes), then the blob.
# SQLite refuses a record longer than SQLITE_LIMIT_LENGTH ("string or blob too big").
_ROW_OVERHEAD: Final = 7


class SqliteStore(Store):
    """Index and bodies in one SQLite database file (``.db``, ``.sqlite``, ``.sqlite3``).

    Bodies are in a table of their own (``bodies``, keyed by the URL's ``seq``), written
    in the same transaction as the URL's row, so a done row always has its body. A body
    larger than `max_body_size` is not stored: `record` makes its outcome a failure.

    One process at a time may open it for writing (a lock file beside it,
    ``<name>.threadloom.lock``, removed when the store is closed; POSIX); a second
    raises `StoreBusyError`. Read-only opens (``readonly=True``) are always allowed, and
    so are shared opens (``shared=True``) while the writer holds the lock: the worker
    processes of a ``fetch --processes`` run record into the run's store beside its
    client (see `open_store`).
    """

    kind: ClassVar[str] = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        readonly: bool = False,
        settings: WriterSettings = DEFAULT_WRITER_SETTINGS,
        create_dirs: bool = False,
        shared: bool = False,
    ) -> None:
        """Open (or, with ``create``, create) the database at ``path``; ``settings`` tunes
        the writer thread; ``create_dirs`` creates a missing directory for it (see
        `ensure_parent_directory`); ``shared``: as one more writer beside the process
        holding the store's lock (`open_store`; `StoreError` if none holds it).

        Raises `FileNotFoundError` if ``create`` is false (or ``readonly``) and there is
        no file; `StoreBusyError` if another process writes it; `MissingDirectoryError`
        if its directory is missing; `NotAStoreError` for a file that is not a SQLite
        database or some other program's non-empty database; `StoreError` if it cannot
        be used otherwise (a read-only location, a corrupt database); `ValueError` for a
        store of another kind or a newer schema.
        """
        path = Path(path)
        create = create and not shared
        if create and not readonly:
            ensure_parent_directory(path, create_dirs=create_dirs)
        elif not path.is_file():
            raise FileNotFoundError(f"no store at {str(path)!r}")
        self._lock: ProcessLock | None = None
        lock_path = path.with_name(path.name + LOCK_SUFFIX)
        if shared:
            check_holder(lock_path)
        elif not readonly:
            self._lock = ProcessLock(lock_path, what=str(path))
        try:  # a failed open has released everything, the lock too (_release_kind)
            super().__init__(
                str(path), path, create=create, readonly=readonly, settings=settings, shared=shared
            )
        except sqlite3.Error as exc:
            raise open_error(exc, path) from exc

    @property
    def max_body_size(self) -> int:
        """The largest body, in bytes, this store can hold now: SQLITE_LIMIT_LENGTH of
        the connection that writes the bodies (1,000,000,000 unless SQLite was built
        otherwise) less room for the row's header. Raises `StoreClosedError` once closed."""
        conn = self._conn
        if conn is None:
            raise StoreClosedError(f"{self.location} is closed")
        return conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) - _ROW_OVERHEAD

    def _refuse_body(self, size: int) -> str | None:
        """A body larger than `max_body_size`: SQLite would refuse its row, which would
        stop the writer thread and so every later commit, run after run. Read on every
        call (the limit can be lowered); None once closed (the writer raises then)."""
        conn = self._conn
        if conn is None:
            return None
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) - _ROW_OVERHEAD
        if size <= limit:
            return None
        return (
            f"body of {size:,} bytes is larger than the SQLite store allows ({limit:,});"
            " use a directory store (-o DIR/)"
        )

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

    def _release_kind(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


# The URL's row was upserted earlier in the same transaction, so the lookup finds its seq.
@functools.lru_cache(maxsize=64)
def _store_sql(rows: int) -> str:
    values = ", ".join(itertools.repeat("((SELECT seq FROM urls WHERE url = ?), ?)", rows))
    return f"INSERT OR REPLACE INTO bodies (seq, body) VALUES {values}"


@functools.lru_cache(maxsize=64)
def _drop_sql(rows: int) -> str:
    marks = ", ".join("?" * rows)
    return f"DELETE FROM bodies WHERE seq IN (SELECT seq FROM urls WHERE url IN ({marks}))"
