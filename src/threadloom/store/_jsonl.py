"""`JsonlStore`: outcomes appended to a JSON-lines file, the index in a SQLite file beside it."""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import BinaryIO, ClassVar, Final

from threadloom.store._adding import inputs_of, restore_inputs
from threadloom.store._base import Store
from threadloom.store._db import (
    COLUMNS,
    Row,
    from_iso_utc,
    iso_utc,
    open_error,
    transaction,
    upsert_rows,
)
from threadloom.store._lock import ProcessLock
from threadloom.store._places import ensure_parent_directory
from threadloom.store._processed import ProcessedUpdate, update_processed
from threadloom.store._rows import Item
from threadloom.store._types import NotAStoreError, State, StoreError
from threadloom.store._urls import MAX_URL_LENGTH
from threadloom.store._writer import DEFAULT_WRITER_SETTINGS, WriterSettings

INDEX_SUFFIX: Final = ".threadloom.db"
LOCK_SUFFIX: Final = ".threadloom.lock"
_OFFSET_KEY: Final = "jsonl_offset"

# How a line `_line_for` writes starts: compact separators, keys in COLUMNS order, and a
# recorded state. This is how a file is recognised as a JSON-lines store (see
# `JsonlStore`); the pattern is anchored and bounded, so no input makes it slow.
_SIGNATURE: Final = re.compile(
    rb'\{"url":"(?:[^"\\\n]|\\.)*","state":"(?:done|failed)","http_status":(?:null|-?\d+),"size":'
)
# A first line's signature lies in its first bytes: a URL is at most MAX_URL_LENGTH
# characters, and JSON escapes make one at most 12 bytes ("\ud83d\ude00" for one
# emoji), before the few dozen bytes of the other keys. Read no more of a user's file.
_SIGNATURE_WINDOW: Final = MAX_URL_LENGTH * 12 + 1024


class JsonlStore(Store):
    """Every recorded outcome is one line appended to ``<name>.jsonl``.

    A line is a JSON object with the `Store.export` keys (``attempts`` counts this outcome's
    tries only; ``input``, the other columns of the URL's input row, taken from the index
    when the line is written) plus ``body`` and ``encoding``: for done URLs the body as text
    (``"encoding": "utf-8"``) when it decodes as UTF-8, else base64 (``"base64"``); both
    null for failed URLs. A URL retried after failing has a later line; the last line for a
    URL wins. Processing a done URL again (`Store.record_processed`) appends a copy of its
    line with the new ``processed``/``process_error`` and ``attempts`` 0: the body is
    copied, so redoing the processing of a whole store grows the file by the store's size.
    Input URLs, order, pending and invalid lines live in the index
    ``<name>.jsonl.threadloom.db`` beside the file, so resume, status and export work as for
    `SqliteStore` (export lists every URL; the JSONL file only holds outcomes).

    Crash safety: the writer appends a batch's lines, then commits their index rows and
    the new end offset of the file in one transaction. Opening for writing replays lines
    past the committed offset (written, not yet indexed when the process died) into the
    index, and cuts a partial last line, so a URL is never fetched twice and no line is
    half-written. If the file is shorter than the index says (it was truncated, or a
    power loss lost unsynced data), URLs whose lines are gone become pending again.
    If the index is deleted, the next open rebuilds it from the file (input order then
    follows the file).

    Recognising a store: an empty file is adopted; a non-empty one is a store only if
    its first line starts as every line above does (``{"url":"...","state":"done",``
    or ``"failed"``, then ``"http_status"`` and ``"size"``, with no spaces), which also
    covers files written before this check existed. Anything else (a user's own JSON
    lines, an ``export`` file, any text) raises `NotAStoreError` and is left as it was,
    nothing created beside it. There is no header line, so every line of the file stays
    an outcome that tools like ``jq`` read as they are. A complete line that is not an
    outcome past the indexed end (someone else appended to the file) raises
    `StoreError` rather than being cut.

    One writing process at a time (a lock file, ``<name>.jsonl.threadloom.lock``,
    removed when the store is closed; POSIX).
    """

    kind: ClassVar[str] = "jsonl"

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        readonly: bool = False,
        settings: WriterSettings = DEFAULT_WRITER_SETTINGS,
        create_dirs: bool = False,
    ) -> None:
        """Open the JSON-lines store at ``path`` (``.jsonl``), creating it if ``create``
        (its directory too if ``create_dirs``, see `ensure_parent_directory`);
        ``settings`` tunes the writer thread."""
        self._path = Path(path)
        index = self._path.with_name(self._path.name + INDEX_SUFFIX)
        _check_ours(self._path)
        if create and not readonly:
            ensure_parent_directory(self._path, create_dirs=create_dirs)
        elif not index.is_file():
            raise FileNotFoundError(f"no JSON-lines store at {str(path)!r} (no {index.name})")
        self._file: BinaryIO | None = None
        self._end = 0
        self._lock: ProcessLock | None = None
        if not readonly:
            self._lock = ProcessLock(
                self._path.with_name(self._path.name + LOCK_SUFFIX), what=str(path)
            )
        try:
            super().__init__(str(path), index, create=create, readonly=readonly, settings=settings)
        except sqlite3.Error as exc:
            self._release_kind()
            raise open_error(exc, index, index=True) from exc
        except BaseException:
            self._release_kind()
            raise

    @property
    def path(self) -> Path:
        """The JSON-lines file."""
        return self._path

    def _recover(self, conn: sqlite3.Connection) -> None:
        # Create the file if missing, without touching one that exists (not even its mtime).
        os.close(os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666))
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_OFFSET_KEY,)).fetchone()
        committed = int(row[0]) if row is not None else 0
        size = self._path.stat().st_size
        with transaction(conn):
            if size < committed:
                conn.execute(
                    "UPDATE urls SET state = 'pending', body_ref = NULL, size = NULL,"
                    " sha256 = NULL, response_head = NULL"
                    " WHERE body_ref IS NOT NULL AND CAST(body_ref AS INTEGER) >= ?",
                    (size,),
                )
                end = size
            else:
                end = self._replay(conn, committed)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_OFFSET_KEY, str(end))
            )
        if end < size:
            os.truncate(self._path, end)
        self._end = end
        self._file = open(self._path, "ab")  # noqa: SIM115 (held open until close)

    def _replay(self, conn: sqlite3.Connection, offset: int) -> int:
        """Index the complete lines from ``offset`` on; return where the good lines end."""
        rows: list[Row] = []
        inputs: list[tuple[str, str]] = []
        with open(self._path, "rb") as file:
            file.seek(offset)
            for line in file:
                if not line.endswith(b"\n"):
                    break
                try:
                    row, columns = _row_from_line(line, offset)
                    rows.append(row)
                    if columns is not None:
                        inputs.append((columns, row[0]))
                except (ValueError, KeyError, TypeError):
                    # Not ours: every line the writer appends is an outcome, and a crash
                    # leaves at most a partial last line (no newline), cut above.
                    raise StoreError(
                        f"the line at byte {offset} is not a threadloom outcome (another"
                        " program wrote to the file?); refusing to cut the file there"
                    ) from None
                offset += len(line)
                if len(rows) >= 1000:
                    upsert_rows(conn, rows)
                    restore_inputs(conn, inputs)
                    rows.clear()
                    inputs.clear()
        upsert_rows(conn, rows)
        restore_inputs(conn, inputs)
        return offset

    def _write_batch(self, conn: sqlite3.Connection, batch: list[Item]) -> None:
        file = self._file
        assert file is not None
        lines: list[bytes] = []
        rows: list[Row] = []
        offset = self._end
        inputs = inputs_of(conn, [row[0] for row, _ in batch])
        for row, body in batch:
            line = _line_for(row, body, inputs.get(row[0]))
            rows.append((*row[:-1], str(offset)))
            lines.append(line)
            offset += len(line)
        # Lines first, index second: a crash in between is repaired by _replay.
        file.write(b"".join(lines))
        file.flush()
        upsert_rows(conn, rows)
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(offset), _OFFSET_KEY))
        self._end = offset

    def _load_body(self, conn: sqlite3.Connection, seq: int, body_ref: str | None) -> bytes | None:
        if body_ref is None:
            return None
        with open(self._path, "rb") as file:
            file.seek(int(body_ref))
            entry = json.loads(file.readline())
        body, encoding = entry.get("body"), entry.get("encoding")
        if not isinstance(body, str):
            return None
        if encoding == "base64":
            return base64.b64decode(body)
        if encoding == "utf-8":
            return body.encode("utf-8")
        raise StoreError(f"unknown body encoding {encoding!r} at offset {body_ref} of {self._path}")

    def _write_processed(self, conn: sqlite3.Connection, updates: list[ProcessedUpdate]) -> None:
        """Append, for each update of a done URL, a copy of its last line with the new
        ``processed``/``process_error`` and ``attempts`` 0 (`_with_processed`), then
        point the index at it; lines first, as in `_write_batch`. One line is held in
        memory at a time."""
        file = self._file
        assert file is not None
        offset = self._end
        moved: list[tuple[str, str]] = []
        with open(self._path, "rb") as source:
            for update in updates:
                row = conn.execute(
                    "SELECT body_ref FROM urls WHERE url = ? AND state = 'done'", (update.url,)
                ).fetchone()
                if row is None or row[0] is None:
                    continue
                source.seek(int(row[0]))
                line = _with_processed(source.readline(), update)
                file.write(line)
                moved.append((str(offset), update.url))
                offset += len(line)
        file.flush()
        update_processed(conn, updates)
        conn.executemany("UPDATE urls SET body_ref = ? WHERE url = ?", moved)
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(offset), _OFFSET_KEY))
        self._end = offset

    def _release_kind(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _check_ours(path: Path) -> None:
    """Raise `NotAStoreError` if ``path`` is a non-empty file whose first line does not
    start with the outcome signature (see `JsonlStore`); a missing file passes."""
    try:
        with open(path, "rb") as file:
            start = file.read(_SIGNATURE_WINDOW)
    except (FileNotFoundError, NotADirectoryError):  # no file: the directory check follows
        return
    # A partial first line (a crash cut it) still starts with the signature, unless the
    # cut fell within its first few dozen bytes.
    if start and _SIGNATURE.match(start) is None:
        raise NotAStoreError(
            "not a threadloom store (its first line is not a threadloom outcome record)"
        )


_BODY_KEY: Final = b',"body":'


def _with_processed(line: bytes, update: ProcessedUpdate) -> bytes:
    """``line`` (a URL's line, with its newline) with ``update``'s processing outcome and
    ``attempts`` 0 (no new tries: a replay sums the attempts of a URL's lines).

    Only the part before the body is decoded and encoded again (the body may be a
    hundred megabytes): `_line_for` writes ``body`` and ``encoding`` last, and the last
    ``,"body":`` of a line is that key (a quote inside a JSON string is escaped, so the
    body's text cannot hold one; a ``processed`` value before it may). A line not in
    that shape is decoded and rewritten whole.
    """
    cut = line.rfind(_BODY_KEY)
    head: object = None
    if cut > 0:
        try:
            head = json.loads(line[:cut] + b"}")
        except ValueError:
            head = None
    if not isinstance(head, dict) or "url" not in head:
        entry = json.loads(line)
        _set_processed(entry, update)
        return json.dumps(entry, separators=(",", ":")).encode("ascii") + b"\n"
    _set_processed(head, update)
    text = json.dumps(head, separators=(",", ":")).encode("ascii")
    return b"".join((text[:-1], memoryview(line)[cut:]))


def _set_processed(entry: dict[str, object], update: ProcessedUpdate) -> None:
    entry["processed"] = None if update.processed is None else json.loads(update.processed)
    entry["process_error"] = update.process_error
    entry["attempts"] = 0


def _line_for(row: Row, body: bytes | None, columns: str | None = None) -> bytes:
    entry: dict[str, object] = dict(zip(COLUMNS[:-1], row[:-1], strict=True))
    entry["input"] = None if columns is None else json.loads(columns)
    fetched_at = entry["fetched_at"]
    assert isinstance(fetched_at, float)
    entry["fetched_at"] = iso_utc(fetched_at)
    processed = entry["processed"]
    entry["processed"] = None if processed is None else json.loads(str(processed))
    text: str | None = None
    encoding: str | None = None
    if body is not None:
        try:
            text, encoding = body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    entry["body"] = text
    entry["encoding"] = encoding
    return json.dumps(entry, separators=(",", ":")).encode("ascii") + b"\n"


def _row_from_line(line: bytes, offset: int) -> tuple[Row, str | None]:
    """The index row of an outcome line at ``offset``, and its input columns as compact
    JSON (None: none, or a line written before schema version 3)."""
    entry = json.loads(line)
    columns = entry.get("input")
    state = State(entry["state"])
    processed = entry.get("processed")
    return (
        str(entry["url"]),
        state.value,
        entry.get("http_status"),
        entry.get("size"),
        entry.get("sha256"),
        int(entry.get("attempts", 1)),
        entry.get("error"),
        from_iso_utc(entry["fetched_at"]),
        entry.get("content_type"),
        entry.get("final_url"),
        None if processed is None else json.dumps(processed),
        entry.get("process_error"),
        entry.get("response_head"),  # absent from lines written before schema version 2
        str(offset),
    ), None if columns is None else json.dumps(columns, separators=(",", ":"))
