"""`Store`: the URL index every store kind shares (SQLite, WAL) and its one writer thread.

The kinds differ only in where bodies go (`SqliteStore`: a table; `DirectoryStore`:
files; `JsonlStore`: lines of a JSON-lines file); states, input order, resume, counts
and export are the same code for all three.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import itertools
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar, Final, cast

from threadloom.store._adding import AddItem, add_items
from threadloom.store._db import (
    WAL_AUTOCHECKPOINT_BYTES,
    check_kind,
    connect,
    ensure_schema,
    transaction,
    upsert_rows,
)
from threadloom.store._processed import (
    ProcessedUpdate,
    count_to_process,
    processed_update,
    save_processor,
    stored_processor,
    to_process_sql,
    update_processed,
)
from threadloom.store._reading import StoreReading, todo_condition
from threadloom.store._refresh import (
    RefreshCounts,
    Refreshed,
    RefreshRecord,
    RefreshResult,
    RefreshUpdate,
    apply_refresh,
    count_to_refresh,
    refresh_counts,
    refresh_update,
    to_refresh_sql,
)
from threadloom.store._rows import Item, document_item, outcome_item
from threadloom.store._types import (
    NOT_PROCESSED,
    AddResult,
    DoneRecord,
    Outcome,
    State,
    StoreClosedError,
    UrlRecord,
)
from threadloom.store._writer import (
    DEFAULT_WRITER_SETTINGS,
    BatchWriter,
    WriterSettings,
    WriterStatistics,
)

logger = logging.getLogger(__name__)

# What the writer queue carries: an outcome's Item, a new processing outcome of a done
# URL (record_processed) or a refresh result (record_refresh).
_Queued = Item | ProcessedUpdate | RefreshUpdate


class Store(StoreReading):
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
        shared: bool = False,  # one more writer beside the holder (`open_store`)
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
            if readonly or shared:
                check_kind(self._conn, self.kind)
            else:
                ensure_schema(self._conn, self.kind)
                self._recover(self._conn)
            self._open_reader()
            if not readonly:
                page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
                pages = max(1, WAL_AUTOCHECKPOINT_BYTES // int(page_size))
                self._conn.execute(f"PRAGMA wal_autocheckpoint = {pages}")
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
        lines: Iterable[AddItem],
        *,
        batch_size: int = 5000,
        max_delay: float = 0.5,
    ) -> AddResult:
        """Stream input lines into the store, in order, in bounded memory.

        Each line is classified by `classify_line`: valid URLs are inserted as pending,
        invalid lines as invalid with their reason, blank and ``#`` lines skipped. An
        `InputRow` (a row of a CSV, TSV or JSON-lines input) is classified by its URL
        cell and keeps its other columns with the URL (`read_input`, ``input`` in
        `export`); an `Invalid` item (a row that could not be read) is stored as
        invalid. A URL already in the store (any state) is left as it is, with the
        columns of its first row, and counted as a duplicate, so adding the same input
        again (a resumed run) adds nothing. Lines are committed
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
        with self._input_lock, contextlib.closing(conn):
            return add_items(
                conn, lines, batch_size=batch_size, max_delay=max_delay, on_input=self._saw_input
            )

    def _saw_input(self) -> None:
        self._has_input = True

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
            f"SELECT seq, url, state, attempts FROM urls WHERE {todo_condition(include_failed)}"
            " AND seq > ? ORDER BY seq LIMIT ?"
        )
        states = _STATES  # a dict lookup instead of an enum call per row
        for seq, url, state, attempts in self._paged(sql, page_size, after=after):
            yield UrlRecord(seq, url, states[state], attempts)  # type: ignore[arg-type]

    # -- outcomes ----------------------------------------------------------------------

    def record(self, outcome: Outcome, timeout: float | None = None) -> Outcome:
        """Queue ``outcome`` for the writer thread; thread-safe; returns before the commit,
        with the outcome as it will be stored (a done outcome whose body the kind cannot
        hold is recorded failed with the reason: a body over `SqliteStore.max_body_size`).

        Validates first and raises `ValueError`/`TypeError` for a malformed outcome (a
        state other than done/failed, a done without body, a failed without error, a
        ``processed`` value JSON cannot encode). Blocks while the writer's queue is full
        (raising `TimeoutError` after ``timeout`` seconds). Raises `StoreWriteError` if
        the writer thread has failed, `StoreClosedError` after `close`. The commit
        happens within ``max_delay`` seconds or sooner; `flush` waits for it.
        """
        writer = self._writer_or_raise()
        body = outcome.body
        if body is not None and outcome.state == State.DONE:
            refused = self._refuse_body(len(body))
            if refused is not None:
                outcome = dataclasses.replace(outcome, state=State.FAILED, body=None, error=refused)
        writer.put(self._prepare(outcome), timeout)  # put() checks the writer first
        return outcome

    def record_document(
        self,
        url: str,
        body: bytes,
        http_status: int | None,
        attempts: int,
        content_type: str | None = None,
        final_url: str | None = None,
        response_head: bytes | None = None,
        timeout: float | None = None,
    ) -> bool:
        """Record a done document without processing as ``record(Outcome(url,
        State.DONE, http_status, body, attempts, content_type=content_type,
        final_url=final_url, response_head=response_head), timeout)`` would (same row,
        commit, blocking and errors), for a caller that holds the fields rather than an
        `Outcome`: a bulk fetch, on every document, builds no `Outcome` then.

        Raises `TypeError` unless ``url`` is a non-empty str and ``body`` bytes. Returns
        whether the document is recorded done: False when the kind records a failure
        instead, as `record` would (a body larger than `SqliteStore.max_body_size`).
        """
        if type(body) is not bytes or type(url) is not str or not url:
            raise TypeError(f"a document needs a non-empty str url and bytes body: {url!r}")
        refused = self._refuse_body(len(body))
        if refused is not None:
            # What `record` makes of that done outcome: failed, with the same fields.
            self.record(
                Outcome(
                    url,
                    State.FAILED,
                    http_status,
                    attempts=attempts,
                    error=refused,
                    content_type=content_type,
                    final_url=final_url,
                ),
                timeout,
            )
            return False
        item = document_item(
            url, http_status, body, attempts, content_type, final_url, response_head,
            self._keep_body,
        )  # fmt: skip
        self._writer_or_raise().put(item, timeout)
        return True

    def to_process(
        self, *, redo: bool = False, after: int = 0, page_size: int = 1000
    ) -> Iterator[DoneRecord]:
        """Yield the done URLs past ``after`` whose processing is missing (recorded
        without processing) or failed, or with ``redo`` every done URL, in input order,
        paged as `pending` is; bodies are not read (`read_body` reads one). Results are
        not tagged with their processor: one without error is yielded only with ``redo``.
        """
        sql = to_process_sql(redo, self._head_column)
        for row in self._paged(sql, page_size, after=after):
            seq, url, status, content_type, final_url, head = cast(
                tuple[int, str, int | None, str | None, str | None, str | None], row
            )
            yield DoneRecord(seq, url, status, content_type, final_url, head)

    def count_to_process(self, *, redo: bool = False) -> int:
        """How many URLs `to_process` would yield now with the same ``redo`` (committed)."""
        with self._reading() as conn:
            return count_to_process(conn, redo)

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

    def to_refresh(
        self, *, older_than: float | None = None, after: int = 0, page_size: int = 1000
    ) -> Iterator[RefreshRecord]:
        """Yield the done URLs past ``after`` to refresh, in input order, paged as
        `pending` is: every one, or with ``older_than`` (a unix time) those whose last
        fetch or confirmation (``max(fetched_at, confirmed_at)``) is older. A failed
        refresh confirms nothing, so its URL stays stale. Bodies are not read."""
        sql, parameters = to_refresh_sql(self._head_column, older_than, self._has_refresh)
        for row in self._paged(sql, page_size, after=after, parameters=parameters):
            seq, url, head, sha256 = cast(tuple[int, str, str | None, str | None], row)
            yield RefreshRecord(seq, url, None if head is None else head.encode("latin-1"), sha256)

    def count_to_refresh(self, *, older_than: float | None = None) -> int:
        """How many URLs `to_refresh` would yield now with the same ``older_than``."""
        with self._reading() as conn:
            return count_to_refresh(conn, older_than if self._has_refresh else None)

    def record_refresh(self, refreshed: Refreshed, timeout: float | None = None) -> Refreshed:
        """Queue the result of refreshing a done URL, committed like `record` (same
        ``timeout`` and errors); returns it as it will be stored (a changed document
        whose body the kind cannot hold, as `record` refuses it, is a failed refresh
        with that reason, the stored document kept). Confirmed: ``confirmed_at`` set, nothing else
        changes but the attempts. Changed: ``refreshed.outcome`` replaces the URL's row
        and body in the same transaction as the refresh columns (a directory store
        writes the new body under a second name and removes the old file after the
        commit, so a crash leaves the old document or the new one whole). Failed: the
        URL keeps its body, head and processing; ``refresh_error`` is set. A URL not
        done at commit time is left as it is."""
        outcome = refreshed.outcome
        if outcome is not None and outcome.body is not None and not self.closed:
            refused = self._refuse_body(len(outcome.body))
            if refused is not None:
                refreshed = Refreshed(
                    refreshed.url,
                    RefreshResult.FAILED,
                    attempts=refreshed.attempts,
                    at=refreshed.at,
                    error=refused,
                )
        update = refresh_update(refreshed, self._keep_new_body)
        self._writer_or_raise().put(update, timeout)
        return refreshed

    def refresh_counts(self) -> RefreshCounts:
        """The committed done URLs by the result of their last refresh (`RefreshCounts`)."""
        with self._reading() as conn:
            return refresh_counts(conn, self._has_refresh)

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

    def _keep_new_body(self, url: str, body: bytes) -> tuple[str | None, str | None]:
        """As `_keep_body`, for a refreshed URL's new body; also returns the reference the
        new one supersedes (removed after the commit). Default: `_keep_body`, None."""
        return self._keep_body(url, body), None

    def _write_refreshed(self, conn: sqlite3.Connection, updates: list[RefreshUpdate]) -> None:
        """Write refresh results inside the writer's open transaction: changed documents
        as `_write_batch` writes outcomes, then the refresh columns."""
        items = [update.item for update in updates if update.item is not None]
        if items:
            self._write_batch(conn, items)
        apply_refresh(conn, updates)

    def _refuse_body(self, size: int) -> str | None:
        """Why this kind cannot hold a body of ``size`` bytes now (one line), or None.
        The one rule `record`, `record_document` and `record_refresh` apply: a done
        outcome whose body is refused is recorded failed with that reason (a changed
        refresh, a failed refresh). Default: every body is held."""
        return None

    def _committed(self, batch: list[_Queued]) -> None:
        """Called by the writer after ``batch`` is committed. Default: nothing."""

    def _release_kind(self) -> None:
        """Release kind-specific resources (after the writer has stopped)."""

    # -- internals ---------------------------------------------------------------------

    def _prepare(self, outcome: Outcome) -> Item:
        return outcome_item(outcome, self._keep_body)

    def _commit(self, batch: list[_Queued]) -> None:
        """The writer's commit: one transaction for the whole batch (writer thread only);
        runs of outcomes, processing updates and refresh results are written in their
        queued order."""
        conn = self._conn
        if conn is None:
            raise StoreClosedError(f"{self._location} is closed")
        with transaction(conn):
            for kind, run in itertools.groupby(batch, type):
                if kind is ProcessedUpdate:
                    self._write_processed(conn, cast(list[ProcessedUpdate], list(run)))
                elif kind is RefreshUpdate:
                    self._write_refreshed(conn, cast(list[RefreshUpdate], list(run)))
                else:
                    self._write_batch(conn, cast(list[Item], list(run)))
        self._committed(batch)

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


_open_stores: weakref.WeakSet[Store] = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    """Commit what forgotten stores still hold before the interpreter stops their writers."""
    for store in list(_open_stores):
        try:
            store.close()
        except Exception:
            logger.exception("closing %s at exit failed", store.location)
