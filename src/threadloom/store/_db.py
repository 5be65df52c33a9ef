"""The SQLite index every store kind keeps: connections, pragmas, schema, row helpers."""

from __future__ import annotations

import contextlib
import datetime
import functools
import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

SCHEMA_VERSION: Final = 1

BUSY_TIMEOUT_MS: Final = 30_000
"""How long a connection waits for another writer's lock before raising."""

# seq is the rowid: input order, and the key for keyset pagination.
# Bodies live in their own table so scans of urls never drag blobs through the cache.
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS urls (
    seq           INTEGER PRIMARY KEY,
    url           TEXT NOT NULL UNIQUE,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'invalid')),
    http_status   INTEGER,
    size          INTEGER,
    sha256        TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    fetched_at    REAL,
    content_type  TEXT,
    final_url     TEXT,
    processed     TEXT,
    process_error TEXT,
    body_ref      TEXT
);
CREATE INDEX IF NOT EXISTS urls_by_state ON urls (state, seq);
CREATE TABLE IF NOT EXISTS bodies (
    seq  INTEGER PRIMARY KEY,
    body BLOB NOT NULL
);
"""

COLUMNS: Final = (
    "url",
    "state",
    "http_status",
    "size",
    "sha256",
    "attempts",
    "error",
    "fetched_at",
    "content_type",
    "final_url",
    "processed",
    "process_error",
    "body_ref",
)
"""The columns an outcome row sets, in the order of `UPSERT_SQL`'s parameters."""

# attempts accumulate across runs; everything else is replaced by the latest outcome.
_ON_CONFLICT: Final = " ON CONFLICT (url) DO UPDATE SET " + ", ".join(
    f"{c} = urls.attempts + excluded.attempts" if c == "attempts" else f"{c} = excluded.{c}"
    for c in COLUMNS[1:]
)
_ROW_MARKS: Final = f"({', '.join('?' * len(COLUMNS))})"

UPSERT_SQL: Final = f"INSERT INTO urls ({', '.join(COLUMNS)}) VALUES {_ROW_MARKS}" + _ON_CONFLICT
"""Insert one outcome row, or update the URL's row (attempts summed)."""


@functools.lru_cache(maxsize=64)
def _upsert_many_sql(rows: int) -> str:
    values = ", ".join(itertools.repeat(_ROW_MARKS, rows))
    return f"INSERT INTO urls ({', '.join(COLUMNS)}) VALUES {values}" + _ON_CONFLICT


def rows_per_statement(conn: sqlite3.Connection, params_per_row: int) -> int:
    """How many rows of ``params_per_row`` parameters one statement may bind on ``conn``
    (SQLITE_MAX_VARIABLE_NUMBER: 999 before SQLite 3.32, 32766 since, or as built)."""
    return max(1, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // params_per_row)


def upsert_rows(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
    """Apply `UPSERT_SQL` to ``rows`` in order, as multi-row statements.

    The same result as ``executemany(UPSERT_SQL, rows)`` (SQLite applies a multi-row
    VALUES upsert row by row, so a URL twice in ``rows`` is inserted, then updated with
    attempts summed), in one statement per chunk instead of one per row: sqlite3 drops
    and retakes the GIL around every statement step, and under contention each retake
    can wait for another thread's switch interval.
    """
    per = rows_per_statement(conn, len(COLUMNS))
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        conn.execute(_upsert_many_sql(len(chunk)), list(itertools.chain.from_iterable(chunk)))


# The parameters of one UPSERT_SQL execution, in COLUMNS order.
Row = tuple[
    str,
    str,
    int | None,
    int | None,
    str | None,
    int,
    str | None,
    float,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
]


def connect(path: Path, *, create: bool, cache_mib: int | None = None) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (transactions are explicit ``BEGIN``/``COMMIT``).

    WAL journal: readers never block the writer and see only committed transactions.
    ``synchronous=NORMAL``: a committed transaction survives a process crash (kill -9);
    a power loss may lose the last transactions before a checkpoint, never corrupts.
    With ``create=False`` a missing file raises `sqlite3.OperationalError`. ``cache_mib``
    bounds the page cache (default: SQLite's 2 MiB).
    """
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode={mode}",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
        timeout=BUSY_TIMEOUT_MS / 1000,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if cache_mib is not None:
            conn.execute(f"PRAGMA cache_size = {-1024 * cache_mib}")
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction on ``conn``.

    On any exception the transaction is rolled back and the exception re-raised as it
    is. SQLite itself already rolls back on some errors (``SQLITE_FULL``, I/O errors);
    then there is nothing to roll back, and a ``ROLLBACK`` would raise "no transaction
    is active" in place of the real error, so it is only sent while one is open.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def ensure_schema(conn: sqlite3.Connection, kind: str) -> None:
    """Create the tables if missing and check the file belongs to a store of ``kind``.

    Raises `ValueError` when the database was made by another store kind or a newer
    schema, naming both.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        found = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if not found:
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("kind", kind)],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    check_meta(found, kind)


def check_meta(found: dict[str, str], kind: str) -> None:
    """Raise `ValueError` unless ``found`` (the meta table) is empty or matches ``kind``."""
    if not found:
        return
    if found.get("kind") != kind:
        raise ValueError(f"this is a {found.get('kind')!r} store, not a {kind!r} store")
    if int(found.get("schema_version", "0")) > SCHEMA_VERSION:
        raise ValueError(
            f"store schema version {found['schema_version']} is newer than this threadloom"
            f" understands ({SCHEMA_VERSION}); upgrade threadloom"
        )


def iso_utc(timestamp: float | None) -> str | None:
    """A unix time as ISO-8601 UTC with milliseconds and a ``Z`` suffix."""
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso_utc(text: str) -> float:
    """The inverse of `iso_utc`."""
    return datetime.datetime.fromisoformat(text).timestamp()
