"""`Store`: the URL index every store kind shares (SQLite, WAL) and its one writer thread.

The kinds differ only in where bodies go (`SqliteStore`: a table; `DirectoryStore`:
files; `JsonlStore`: lines of a JSON-lines file); states, input order, resume, counts
and export are the same code for all three.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import itertools
import json
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar, Final, cast

from threadloom.store._db import (
    EXPORT_COLUMNS,
    Row,
    check_meta,
    connect,
    ensure_schema,
    export_dict,
    has_column,
    transaction,
    upsert_rows,
)
from threadloom.store._processed import (
    ProcessedUpdate,
    processed_update,
    save_processor,
    stored_processor,
    to_process_condition,
    update_processed,
)
from threadloom.store._types import (
    NOT_PROCESSED,
    AddResult,
    DoneRecord,
    Outcome,
    State,
    StoreClosedError,
    StoreCounts,
    UrlRecord,
)
from threadloom.store._urls import Invalid, Valid, classify_line
from threadloom.store._writer import (
    DEFAULT_WRITER_SETTINGS,
    BatchWriter,
    WriterSettings,
    WriterStatistics,
)

logger = logging.getLogger(__name__)

# What the writer queue carries: the row to upsert and, for stores that keep bodies
# themselves rather than as files, the body.
Item = tuple[Row, bytes | None]
# ... or a new processing outcome of a done URL (record_processed).
_Queued = Item | ProcessedUpdate

# A classified input line as inserted: (URL or invalid line, state, reason).
Line = tuple[str, str, str | None]


# The states an outcome may have, by value (a State or its text), to the text stored.
_RECORDABLE_TEXT: Final[dict[str, str]] = {"done": "done", "failed": "failed"}


class Store:
    """A crash-safe home for the state and body of every URL of a fetch.

    Thread safety: `record` may be called from any number of threads; every other method
    from any thread. Reads (`pending`, `counts`, `export`, `read_body`, `lookup`) see
    committed data only: call `flush` first to see everything recorded so far.

    Durability: a committed outcome survives a crash of the process (kill -9); a power
    loss may lose the transactions of the last moments (``synchronous=NORMAL``), never
    corrupts the store. Outcomes recorded but not committed when the process dies stay
    pending, so the next run fetches them again: nothing is lost or done twice.

    Use it as a context manager or call `close`.
    """

    kind: ClassVar[str]
    """``"sqlite"``, ``"directory"`` or ``"jsonl"``."""

    def __init__(
        self,
        location: str,
        index_path: Path,
        *,
        create: bool,
        readonly: bool,
        settings: WriterSettings = DEFAULT_WRITER_SETTINGS,
    ) -> None:
        self._location = location
        self._index_path = index_path
        self._readonly = readonly
        self._read_lock = threading.Lock()
        self._input_lock = threading.Lock()
        self._writer: BatchWriter[_Queued] | None = None
        self._reader: sqlite3.Connection | None = None
        self._conn: sqlite3.Connection | None = None
        try:
            # The writing connection gets a larger page cache: inserting millions of URLs
            # keeps the hot part of the unique index in memory (a bound, not an allocation).
            self._conn = connect(index_path, create=create and not readonly, cache_mib=32)
            if readonly:
                _check_kind(self._conn, self.kind)
            else:
                ensure_schema(self._conn, self.kind)
                self._recover(self._conn)
            self._reader = connect(index_path, create=False)
            head = "response_head" if has_column(self._reader, "urls", "response_head") else "NULL"
            self._export_columns = EXPORT_COLUMNS.format(head=head)
            self._head_column = head
            if not readonly:
                self._writer = BatchWriter(
                    self._commit,
                    max_batch=settings.max_batch,
                    max_delay=settings.max_delay,
                    max_queued=settings.max_queued,
                    name=f"threadloom-store-writer-{index_path.name}",
                )
        except BaseException:
            self._release()
            raise
        _open_stores.add(self)

    # -- input -------------------------------------------------------------------------

    def add_urls(
        self,
        lines: Iterable[bytes | str | None],
        *,
        batch_size: int = 5000,
        max_delay: float = 0.5,
    ) -> AddResult:
        """Stream input lines into the store, in order, in bounded memory.

        Each line is classified by `classify_line`: valid URLs are inserted as pending,
        invalid lines as invalid with their reason, blank and ``#`` lines skipped. A URL
        already in the store (any state) is left as it is and counted as a duplicate, so
        adding the same input again (a resumed run) adds nothing. Lines are committed
        ``batch_size`` at a time, or sooner when a line arrives ``max_delay`` seconds or
        more after the first line of its batch (so that slowly produced input becomes
        visible to `pending` as it arrives); an interrupted call leaves a committed
        prefix, and adding the input again completes it in the original order. A None
        item is not a line but a pause in the input: the lines before it are committed
        once ``max_delay`` has passed since the first of them, even if no line follows
        (a reader of a silent pipe yields None while it waits).

        May run in one thread while others fetch and record: it writes through a
        connection of its own, so its transactions and the writer thread's take turns.
        """
        self._writer_or_raise().check()  # raises if the store is closed or its writer failed
        conn = connect(self._index_path, create=False)
        added = duplicates = invalid = skipped = 0
        batch: list[Line] = []
        batch_started = 0.0

        def insert_batch() -> None:
            nonlocal added, duplicates, invalid
            new_valid, new_invalid = _insert_lines(conn, batch)
            added += new_valid
            invalid += new_invalid
            duplicates += len(batch) - new_valid - new_invalid
            batch.clear()

        with self._input_lock, contextlib.closing(conn):
            for raw in lines:
                if raw is None:
                    if batch and time.monotonic() - batch_started >= max_delay:
                        insert_batch()
                    continue
                verdict = classify_line(raw)
                if isinstance(verdict, Valid):
                    batch.append((verdict.url, State.PENDING.value, None))
                elif isinstance(verdict, Invalid):
                    batch.append((verdict.key, State.INVALID.value, verdict.reason))
                else:
                    skipped += 1
                    continue
                if len(batch) == 1:
                    batch_started = time.monotonic()
                if len(batch) >= batch_size or time.monotonic() - batch_started >= max_delay:
                    insert_batch()
            if batch:
                insert_batch()
        return AddResult(added, duplicates, invalid, skipped)

    # -- work to do --------------------------------------------------------------------

    def pending(
        self, include_failed: bool = True, *, after: int = 0, page_size: int = 1000
    ) -> Iterator[UrlRecord]:
        """Yield the URLs still to fetch whose ``seq`` is above ``after``, in input order,
        ``page_size`` rows at a time.

        Pending URLs, and failed ones too when ``include_failed``. Safe while outcomes are
        being recorded and input is being added: each page is read from a committed
        snapshot on a connection of its own, and paging only moves forward by ``seq``, so
        a URL is yielded at most once per iteration, and a URL recorded done before its
        page is read is not yielded. A URL that fails during the iteration after being
        yielded is not yielded again. To follow input still being added, iterate again
        with ``after`` set to the last ``seq`` seen.
        """
        sql = (
            f"SELECT seq, url, state, attempts FROM urls WHERE {_todo(include_failed)}"
            " AND seq > ? ORDER BY seq LIMIT ?"
        )
        states = _STATES  # a dict lookup instead of an enum call per row
        for seq, url, state, attempts in self._paged(sql, page_size, after=after):
            yield UrlRecord(seq, url, states[state], attempts)  # type: ignore[arg-type]

    # -- outcomes ----------------------------------------------------------------------

    def record(self, outcome: Outcome, timeout: float | None = None) -> Outcome:
        """Queue ``outcome`` for the writer thread; thread-safe; returns before the commit,
        with the outcome as it will be stored (a kind may turn one it cannot hold into a
        failure, see `SqliteStore.record`).

        Validates first and raises `ValueError`/`TypeError` for a malformed outcome (a
        state other than done/failed, a done without body, a failed without error, a
        ``processed`` value JSON cannot encode). Blocks while the writer's queue is full
        (raising `TimeoutError` after ``timeout`` seconds). Raises `StoreWriteError` if
        the writer thread has failed, `StoreClosedError` after `close`. The commit
        happens within ``max_delay`` seconds or sooner; `flush` waits for it.
        """
        writer = self._writer_or_raise()
        writer.put(self._prepare(outcome), timeout)  # put() checks the writer first
        return outcome

    def to_process(
        self, *, redo: bool = False, after: int = 0, page_size: int = 1000
    ) -> Iterator[DoneRecord]:
        """Yield the done URLs past ``after`` whose processing is missing (recorded
        without processing) or failed, or with ``redo`` every done URL, in input order,
        paged as `pending` is; bodies are not read (`read_body` reads one). Results are
        not tagged with their processor: one without error is yielded only with ``redo``.
        """
        sql = (
            "SELECT seq, url, http_status, content_type, final_url FROM urls"
            f" WHERE {to_process_condition(redo)} AND seq > ? ORDER BY seq LIMIT ?"
        )
        for row in self._paged(sql, page_size, after=after):
            seq, url, status, content_type, final_url = cast(
                tuple[int, str, int | None, str | None, str | None], row
            )
            yield DoneRecord(seq, url, status, content_type, final_url)

    def count_to_process(self, *, redo: bool = False) -> int:
        """How many URLs `to_process` would yield now with the same ``redo`` (committed)."""
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT count(*) FROM urls WHERE {to_process_condition(redo)}"
            ).fetchone()
        return int(row[0])

    def record_processed(
        self,
        url: str,
        processed: object = NOT_PROCESSED,
        process_error: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Queue a new processing outcome of the done URL ``url``, committed like `record`
        (same ``timeout`` and errors): its result ``processed`` (any JSON value, None
        included) or its one-line ``process_error``, exactly one (else `ValueError`).
        Only ``processed`` and ``process_error`` change (a `JsonlStore` appends a copy
        of the URL's line with them); a URL not done at commit time is left as it is.
        """
        update = processed_update(url, processed, process_error)
        self._writer_or_raise().put(update, timeout)

    @property
    def processor(self) -> str | None:
        """The processor the last complete processing run named (`set_processor`), or
        None. Results are not tagged one by one: this tells a later run naming another
        processor that the kept results may be the earlier one's."""
        with self._reading() as conn:
            return stored_processor(conn)

    def set_processor(self, spec: str) -> None:
        """Name ``spec`` as the processor of the store's results (committed at once)."""
        self._writer_or_raise().check()
        with contextlib.closing(connect(self._index_path, create=False)) as conn:
            save_processor(conn, spec)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every outcome recorded before this call is committed.

        Raises `StoreWriteError` if a commit failed, `TimeoutError` after ``timeout`` s.
        """
        self._writer_or_raise().flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Commit what was recorded, stop the writer thread and release the files.

        Idempotent, and safe from ``finally`` and ``except KeyboardInterrupt`` blocks (see
        `BatchWriter.close`). Raises `StoreWriteError` for a writer failure that no
        `record`/`flush` call has reported yet; the store is released even then.
        """
        try:
            if self._writer is not None:
                self._writer.close(timeout)
        finally:
            if self._writer is None or self._writer.closed:
                self._release()

    @property
    def closed(self) -> bool:
        """True once `close` has released the store."""
        return self._conn is None

    def writer_statistics(self) -> WriterStatistics:
        """Items committed, transactions used and items queued so far (zeros if read-only)."""
        if self._writer is None:
            return WriterStatistics(0, 0, 0)
        return self._writer.statistics()

    # -- reading back ------------------------------------------------------------------

    def counts(self) -> StoreCounts:
        """Committed totals by state, the bytes of all done bodies, and how many done
        URLs failed processing (one pass over the table)."""
        by_state = dict.fromkeys(State, 0)
        total_bytes = process_failed = 0
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT state, count(*), coalesce(sum(size), 0), count(process_error)"
                " FROM urls GROUP BY state"
            ).fetchall()
        for state, count, size, with_process_error in rows:
            by_state[State(state)] = count
            if state == State.DONE:
                total_bytes = size
                process_failed = with_process_error
        return StoreCounts(
            total=sum(by_state.values()),
            done=by_state[State.DONE],
            failed=by_state[State.FAILED],
            invalid=by_state[State.INVALID],
            pending=by_state[State.PENDING],
            bytes=total_bytes,
            process_failed=process_failed,
        )

    def count_pending(self, include_failed: bool = True, *, after: int = 0) -> int:
        """How many URLs `pending` would yield now with the same arguments (committed)."""
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT count(*) FROM urls WHERE {_todo(include_failed)} AND seq > ?", (after,)
            ).fetchone()
        return int(row[0])

    def error_reasons(self, limit: int = 10) -> list[tuple[str, int]]:
        """The ``limit`` most frequent reasons of failed and invalid URLs, with counts,
        most frequent first (ties by reason text)."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT error, count(*) AS n FROM urls WHERE state IN ('failed', 'invalid')"
                " GROUP BY error ORDER BY n DESC, error LIMIT ?",
                (limit,),
            ).fetchall()
        return [(reason if reason is not None else "(no reason)", n) for reason, n in rows]

    def process_error_reasons(self, limit: int = 10) -> list[tuple[str, int]]:
        """The ``limit`` most frequent ``process_error`` reasons of done URLs, with counts,
        most frequent first (ties by reason text); `counts` has their total."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT process_error, count(*) AS n FROM urls"
                " WHERE state = 'done' AND process_error IS NOT NULL"
                " GROUP BY process_error ORDER BY n DESC, process_error LIMIT ?",
                (limit,),
            ).fetchall()
        return [(str(reason), int(n)) for reason, n in rows]

    def export(self, *, page_size: int = 1000) -> Iterator[dict[str, object]]:
        """Yield one dict per URL in input order, streamed in pages.

        Keys: ``url``, ``state``, ``http_status``, ``size``, ``sha256`` (of the stored
        body, done only), ``attempts`` (all runs), ``error`` (failed/invalid reason),
        ``fetched_at`` (ISO-8601 UTC, ``Z``), ``content_type``, ``final_url``,
        ``processed`` (the decoded JSON value), ``process_error``, ``status_line`` (the
        final response's, e.g. ``"HTTP/1.1 200 OK"``) and ``headers`` (its fields in
        order, names lower-cased, a value as a str, or a list of str for a field sent
        more than once; see `parse_head`). Missing values are None (the head of a URL
        recorded by a threadloom before version 2 of the schema too).
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
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {self._head_column} FROM urls WHERE url = ? AND state = 'done'", (url,)
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return str(row[0]).encode("latin-1")

    @property
    def location(self) -> str:
        """The path the store was opened with."""
        return self._location

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._location!r}{' closed' if self.closed else ''}>"

    # -- for the kinds -----------------------------------------------------------------

    def _recover(self, conn: sqlite3.Connection) -> None:
        """Repair what a crash may have left (before the writer starts). Default: nothing."""

    def _keep_body(self, url: str, body: bytes) -> str | None:
        """Keep ``body`` outside the queue if the kind stores bodies itself (runs in the
        recording thread) and return its reference; None: send the body to the writer."""
        return None

    def _write_batch(self, conn: sqlite3.Connection, batch: list[Item]) -> None:
        """Write one batch inside the writer's open transaction."""
        upsert_rows(conn, [row for row, _ in batch])

    def _write_processed(self, conn: sqlite3.Connection, updates: list[ProcessedUpdate]) -> None:
        """Write processing updates inside the writer's open transaction (the index's
        columns; a kind that also keeps them elsewhere extends this)."""
        update_processed(conn, updates)

    def _load_body(self, conn: sqlite3.Connection, seq: int, body_ref: str | None) -> bytes | None:
        raise NotImplementedError

    def _release_kind(self) -> None:
        """Release kind-specific resources (after the writer has stopped)."""

    # -- internals ---------------------------------------------------------------------

    def _prepare(self, outcome: Outcome) -> Item:
        # A dict lookup instead of State(...) and .value (an enum call and a property,
        # ~1 us together per outcome): the state's text is what the row stores.
        try:
            state = _RECORDABLE_TEXT.get(outcome.state)
        except TypeError:  # unhashable: State() below says what is wrong with it
            state = None
        if state is None:
            raise ValueError(f"an outcome is done or failed, not {State(outcome.state).value!r}")
        url = outcome.url
        if not isinstance(url, str) or not url:
            raise TypeError(f"Outcome.url must be a non-empty str, not {url!r}")
        processed = None if outcome.processed is NOT_PROCESSED else json.dumps(outcome.processed)
        fetched_at = time.time() if outcome.fetched_at is None else float(outcome.fetched_at)
        size = sha256 = body_ref = head = None
        body = None
        if state == "done":
            if outcome.body is None:
                raise ValueError(f"a done outcome needs a body (may be b''): {url}")
            body = bytes(outcome.body)
            size = len(body)
            sha256 = hashlib.sha256(body).hexdigest()
            body_ref = self._keep_body(url, body)
            if body_ref is not None:
                body = None
            response_head = outcome.response_head
            # As text: latin-1 maps every byte to one character, so it is lossless and
            # costs a copy (0.1 us for a 250-byte head; zlib would cost 10 us a row).
            head = None if response_head is None else response_head.decode("latin-1")
        elif not outcome.error:
            raise ValueError(f"a failed outcome needs an error reason: {url}")
        row: Row = (
            url,
            state,
            outcome.http_status,
            size,
            sha256,
            outcome.attempts,
            outcome.error,
            fetched_at,
            outcome.content_type,
            outcome.final_url,
            processed,
            outcome.process_error,
            head,
            body_ref,
        )
        return row, body

    def _commit(self, batch: list[_Queued]) -> None:
        """The writer's commit: one transaction for the whole batch (writer thread only);
        runs of outcomes and of processing updates are written in their queued order."""
        conn = self._conn
        if conn is None:
            raise StoreClosedError(f"{self._location} is closed")
        with transaction(conn):
            for is_update, run in itertools.groupby(batch, _is_update):
                if is_update:
                    self._write_processed(conn, cast(list[ProcessedUpdate], list(run)))
                else:
                    self._write_batch(conn, cast(list[Item], list(run)))

    def _paged(self, sql: str, page_size: int, *, after: int = 0) -> Iterator[tuple[object, ...]]:
        """Rows of ``sql`` (``seq > ? ... ORDER BY seq LIMIT ?``, seq first) past ``after``,
        page by page on a connection of its own so no read transaction outlives one page."""
        conn = connect(self._index_path, create=False)
        try:
            last = after
            while True:
                rows: list[tuple[object, ...]] = conn.execute(sql, (last, page_size)).fetchall()
                if not rows:
                    return
                yield from rows
                seq = rows[-1][0]
                assert isinstance(seq, int)
                last = seq
        finally:
            conn.close()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            if self._reader is None:
                raise StoreClosedError(f"{self._location} is closed")
            yield self._reader

    def _writer_or_raise(self) -> BatchWriter[_Queued]:
        if self._writer is None:
            raise StoreClosedError(f"{self._location} was opened read-only")
        return self._writer

    def _release(self) -> None:
        _open_stores.discard(self)
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._release_kind()


_STATES: Final[dict[object, State]] = {state.value: state for state in State}


def _is_update(item: _Queued) -> bool:
    return isinstance(item, ProcessedUpdate)


def _todo(include_failed: bool) -> str:
    """The WHERE condition of URLs still to fetch."""
    # "+state" keeps SQLite on the rowid order: one forward scan over all pages, instead
    # of re-sorting both states' index ranges for every page.
    return "+state IN ('pending', 'failed')" if include_failed else "state = 'pending'"


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
            cursor = conn.executemany(
                "INSERT OR IGNORE INTO urls (url, state, error) VALUES (?, ?, ?)", batch[start:end]
            )
            if kind == State.PENDING.value:
                new_valid += cursor.rowcount
            else:
                new_invalid += cursor.rowcount
            start = end
    return new_valid, new_invalid


def _check_kind(conn: sqlite3.Connection, kind: str) -> None:
    try:
        found = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.OperationalError as exc:
        raise ValueError(f"not a threadloom store ({exc})") from exc
    check_meta(found, kind)


_open_stores: weakref.WeakSet[Store] = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    """Commit what forgotten stores still hold before the interpreter stops their writers."""
    for store in list(_open_stores):
        try:
            store.close()
        except Exception:
            logger.exception("closing %s at exit failed", store.location)
