"""The SQLite index every store kind keeps: connections, pragmas, schema, row helpers."""

from __future__ import annotations

import contextlib
import datetime
import functools
import itertools
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from threadloom.store._heads import parse_head
from threadloom.store._types import NotAStoreError, StoreError

SCHEMA_VERSION: Final = 4
"""1: the first schema. 2: ``urls.response_head`` (the final response's status line and
headers). 3: ``urls.input`` (the other columns of a URL's input row, as compact JSON).
4: ``urls.confirmed_at``, ``urls.refresh_result`` and ``urls.refresh_error`` (what the
last ``fetch --refresh`` found, see `_refresh.py`).
A store of an older version is migrated when opened for writing (`MIGRATIONS`)
and read as it is when opened read-only; a threadloom older than a store refuses it,
since its writes would leave a row's head out of step with its body."""

WAL_AUTOCHECKPOINT_BYTES: Final = 1 << 20
"""The writing connection copies the WAL into the database file once the WAL holds this
many bytes of pages (SQLite counts pages: 128 of a new store's 8 KiB, 256 of an older
store's 4 KiB; SQLite's default is 1,000 pages), in the writer thread right
after a commit. What is left in the WAL is copied when the store closes, on the caller's
thread, after the last commit: a shorter tail for a short run (500 small documents: the
close took 35 ms of a ~270 ms run with the default, ~15 ms less with this). Measured
with 20,000 documents: the same wall and CPU time within the noise."""

PAGE_SIZE: Final = 8192
"""The page size of a new store's database (SQLite's default is 4,096; a store made
before keeps its own). A typical document (a few KiB) then fills one page, not two:
fewer WAL frames, reads and writes per document. Measured, 30,000 documents of ~6 KiB
recorded through `Store.record_document`: the writer thread's CPU 42-47 us a document
against 53-57 with 4,096-byte pages (16,384: 44-48)."""

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
    body_ref      TEXT,
    response_head TEXT,
    input         TEXT,
    confirmed_at  REAL,
    refresh_result TEXT,
    refresh_error TEXT
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
    "response_head",
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


# The parameters of one UPSERT_SQL execution, in COLUMNS order; body_ref is always last
# (the JSON-lines store writes every column but it into its lines).
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
    str | None,
]


def connect(path: Path, *, create: bool, cache_mib: int | None = None) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (transactions are explicit ``BEGIN``/``COMMIT``).

    ``synchronous=NORMAL``: with the WAL journal `ensure_schema` sets (it stays set in
    the file), a committed transaction survives a process crash (kill -9); a power loss
    may lose the last transactions before a checkpoint, never corrupts. The journal mode
    is not set here, so opening a file for reading never changes it.

    With ``create=False`` a missing file raises `sqlite3.OperationalError`, and a file
    this process cannot write (read-only permissions or file system) is opened
    read-only (``mode=ro``). On a read-only file system without a ``-wal`` file it is
    also opened ``immutable``: SQLite cannot create the ``-shm`` file a WAL database
    needs there, and nothing can change the file, whose content is then every committed
    transaction. ``cache_mib`` bounds the page cache (default: SQLite's 2 MiB). A new
    (empty) file opened with ``create`` gets `PAGE_SIZE` pages.
    """
    if create:
        mode = "rwc"
    elif os.access(path, os.W_OK):
        mode = "rw"
    elif _on_read_only_file_system(path) and not _sibling(path, "-wal").exists():
        mode = "ro&immutable=1"
    else:
        mode = "ro"
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode={mode}",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
        timeout=BUSY_TIMEOUT_MS / 1000,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = NORMAL")
        if create and conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            # Only an empty file takes a page size (outside a transaction), and before
            # the cache size: the page cache keeps the number of pages a size in KiB
            # came to at the page size of the moment (measured: 30 MiB more memory).
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        if cache_mib is not None:
            conn.execute(f"PRAGMA cache_size = {-1024 * cache_mib}")
    except BaseException:
        conn.close()
        raise
    return conn


def paged(
    path: Path,
    sql: str,
    page_size: int,
    *,
    after: int = 0,
    parameters: tuple[object, ...] = (),
) -> Iterator[tuple[object, ...]]:
    """Rows of ``sql`` (``parameters``, then ``seq > ? ... ORDER BY seq LIMIT ?``, seq
    first) on the database at ``path`` past ``after``, page by page on a connection of
    its own, so no read transaction outlives one page."""
    conn = connect(path, create=False)
    try:
        last = after
        while True:
            rows: list[tuple[object, ...]] = conn.execute(
                sql, (*parameters, last, page_size)
            ).fetchall()
            if not rows:
                return
            yield from rows
            seq = rows[-1][0]
            assert isinstance(seq, int)
            last = seq
    finally:
        conn.close()


def _on_read_only_file_system(path: Path) -> bool:
    statvfs = getattr(os, "statvfs", None)  # POSIX only
    if statvfs is None:
        return False
    try:
        return bool(statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def sqlite_files(path: Path) -> tuple[Path, ...]:
    """``path`` and the files SQLite keeps beside it (``-wal``, ``-shm``, ``-journal``)."""
    return (path, *(_sibling(path, suffix) for suffix in ("-wal", "-shm", "-journal")))


def open_error(exc: sqlite3.Error, path: Path, *, index: bool = False) -> StoreError:
    """A `StoreError` saying in one line why SQLite could not open or set up the
    database at ``path`` (``exc``), without the store's path: callers put that in front.
    ``index``: ``path`` is the index of a directory or JSON-lines store, and the line
    starts with its name. Chain ``exc`` with ``raise open_error(exc, path) from exc``.
    """
    # The primary code, without the extended bits; errors the sqlite3 module raises
    # itself (ProgrammingError, ...) have none.
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_NOTADB and not index:
        # A user's file under a store's name: refused, as ensure_schema refuses a database.
        return NotAStoreError("not a SQLite database")
    if code == sqlite3.SQLITE_NOTADB:
        reason = "not a SQLite database"
    elif code == sqlite3.SQLITE_CORRUPT:
        reason = "a corrupt SQLite database"
    elif code == sqlite3.SQLITE_FULL:
        reason = "the disk is full"
    elif code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        reason = f"locked by another program for more than {BUSY_TIMEOUT_MS // 1000} s"
    elif not path.parent.is_dir():
        reason = f"no such directory: {path.parent}"
    elif code == sqlite3.SQLITE_CANTOPEN:
        reason = "cannot be opened (no permission, or a read-only location)"
    elif code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        reason = "cannot be written (no permission, or a read-only location)"
    else:
        reason = f"SQLite error: {exc}"
    return StoreError(f"index {path.name}: {reason}" if index else reason)


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


_NOT_A_STORE: Final = "a SQLite database that is not a threadloom store"


def ensure_schema(conn: sqlite3.Connection, kind: str) -> None:
    """Make ``conn``'s database a store of ``kind`` (for writing): create the tables and
    the meta rows in a database without any tables (an empty file is one), check those
    of an existing store, then switch the database to the WAL journal.

    Raises `NotAStoreError` for a database that has tables but no threadloom meta rows
    (some other program's: nothing in it is changed), and `ValueError` (see `check_meta`) for a
    store of another kind or a newer schema.
    """
    with transaction(conn):
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            try:
                found = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.OperationalError:  # no meta table, or not ours (other columns)
                found = {}
            if "kind" not in found:
                raise NotAStoreError(f"{_NOT_A_STORE}; refusing to write to it")
            check_meta(found, kind)
            _migrate(conn, int(found.get("schema_version", "1")))
        else:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("kind", kind)],
            )
    # Not allowed inside a transaction; a no-op for a store that is WAL already.
    conn.execute("PRAGMA journal_mode = WAL")


MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    2: ("ALTER TABLE urls ADD COLUMN response_head TEXT",),
    3: ("ALTER TABLE urls ADD COLUMN input TEXT",),
    4: (
        "ALTER TABLE urls ADD COLUMN confirmed_at REAL",
        "ALTER TABLE urls ADD COLUMN refresh_result TEXT",
        "ALTER TABLE urls ADD COLUMN refresh_error TEXT",
    ),
}
"""The statements that bring a store from the version before each key to that version.
Adding a nullable column is a change of the schema text only in SQLite (no row is
rewritten), so opening a store of millions of rows for writing migrates it at once."""


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Apply `MIGRATIONS` past ``version`` inside the caller's transaction."""
    if version >= SCHEMA_VERSION:
        return
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS.get(target, ()):
            conn.execute(statement)
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether ``table`` has ``column`` (a read-only open of an older store may not)."""
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def check_kind(conn: sqlite3.Connection, kind: str) -> None:
    """Raise `ValueError` unless ``conn``'s database is a store of ``kind`` that this
    threadloom can read (a read-only open: nothing is created or migrated)."""
    try:
        found = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.OperationalError as exc:
        raise ValueError(f"not a threadloom store ({exc})") from exc
    check_meta(found, kind)


def check_meta(found: dict[str, str], kind: str) -> None:
    """Raise `ValueError` unless ``found`` (the meta table) is empty or matches ``kind``."""
    if not found:
        return
    if "kind" not in found:
        raise ValueError(_NOT_A_STORE)
    if found["kind"] != kind:
        raise ValueError(f"this is a {found['kind']!r} store, not a {kind!r} store")
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


EXPORT_COLUMNS: Final = (
    "seq, url, state, http_status, size, sha256, attempts, error, fetched_at,"
    " content_type, final_url, processed, process_error, {head}, {input}, {refresh}"
)
"""The columns `export_dict` reads, in its order (seq first, for paging); ``{head}`` is
``response_head``, ``{input}`` is ``input`` and ``{refresh}`` ``confirmed_at,
refresh_result, refresh_error``, or NULLs in an older store opened read-only (see
`SCHEMA_VERSION`)."""


def export_dict(row: tuple[object, ...]) -> dict[str, object]:
    """A row of `EXPORT_COLUMNS` as the dict `Store.export` yields."""
    (
        _seq,
        url,
        state,
        http_status,
        size,
        sha256,
        attempts,
        error,
        fetched_at,
        content_type,
        final_url,
        processed,
        process_error,
        response_head,
        input_columns,
        confirmed_at,
        refresh_result,
        refresh_error,
    ) = row
    assert fetched_at is None or isinstance(fetched_at, float)
    assert processed is None or isinstance(processed, str)
    assert response_head is None or isinstance(response_head, str)
    assert input_columns is None or isinstance(input_columns, str)
    assert confirmed_at is None or isinstance(confirmed_at, float)
    status_line, headers = (None, None) if response_head is None else parse_head(response_head)
    return {
        "url": url,
        "state": state,
        "http_status": http_status,
        "size": size,
        "sha256": sha256,
        "attempts": attempts,
        "error": error,
        "fetched_at": iso_utc(fetched_at),
        "content_type": content_type,
        "final_url": final_url,
        "processed": None if processed is None else json.loads(processed),
        "process_error": process_error,
        "status_line": status_line,
        "headers": headers,
        "input": None if input_columns is None else json.loads(input_columns),
        "confirmed_at": iso_utc(confirmed_at),
        "refresh_result": refresh_result,
        "refresh_error": refresh_error,
    }
