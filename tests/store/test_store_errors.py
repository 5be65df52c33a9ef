"""Stores that cannot be used or written fail with one line of `StoreError`, never a
SQLite traceback, and never damage what is there: files that are not SQLite, other
programs' databases, bodies too large for SQLite, a disk that refuses a body, a second
writer of a SQLite store."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from threadloom.store import (
    Outcome,
    SqliteStore,
    State,
    StoreBusyError,
    StoreError,
    StoreWriteError,
    open_store,
)
from threadloom.store._directory import TEMP_PREFIX

GARBAGE = bytes(range(256)) * 40  # 10 KiB that no SQLite header starts like

# Where a file that is not SQLite sits for each kind: the store file or its index.
GARBAGE_AT = {"x.db": "x.db", "d/": "d/.threadloom.db", "k.jsonl": "k.jsonl.threadloom.db"}


# The files_limited_to fixture (tests/conftest.py).
LimitFiles = Callable[[int], AbstractContextManager[None]]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def journal_mode(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


@pytest.mark.parametrize("store", sorted(GARBAGE_AT))
@pytest.mark.parametrize("readonly", [False, True], ids=["write", "read"])
def test_a_file_that_is_not_sqlite_is_one_line_and_left_alone(
    tmp_path: Path, store: str, readonly: bool
) -> None:
    garbage = tmp_path / GARBAGE_AT[store]
    garbage.parent.mkdir(exist_ok=True)
    garbage.write_bytes(GARBAGE)
    if store == "k.jsonl":
        (tmp_path / "k.jsonl").touch()
    with pytest.raises(StoreError, match=r"not a SQLite database$") as info:
        open_store(f"{tmp_path}/{store}", readonly=readonly)
    assert "\n" not in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    assert garbage.read_bytes() == GARBAGE


def test_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    for store in ("x.db", "k.jsonl", "d/"):
        with pytest.raises(StoreError, match=f"^no such directory: {tmp_path}/no/such$"):
            open_store(f"{tmp_path}/no/such/{store}")
    assert not (tmp_path / "no").exists()


FOREIGN = {
    "own tables": "CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('ada');",
    "own urls table": "CREATE TABLE urls (id INTEGER, x TEXT); INSERT INTO urls VALUES (1, 'a');",
    "own meta table": "CREATE TABLE meta (k TEXT);",
    "meta without kind": "CREATE TABLE meta (key, value); INSERT INTO meta VALUES ('a', 'b');",
    "index only": "CREATE TABLE t (a); CREATE INDEX t_a ON t (a); DELETE FROM t;",
}


@pytest.mark.parametrize("schema", FOREIGN.values(), ids=FOREIGN.keys())
def test_another_programs_database_is_refused_and_untouched(tmp_path: Path, schema: str) -> None:
    path = tmp_path / "theirs.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(schema)
    before = digest(path)
    with pytest.raises(StoreError, match="not a threadloom store; refusing to write to it"):
        open_store(path)
    with pytest.raises(ValueError, match="not a threadloom store"):
        open_store(path, readonly=True)
    assert digest(path) == before
    assert journal_mode(path) == "delete"


@pytest.mark.parametrize("content", ["empty file", "empty database"])
def test_an_empty_file_or_database_becomes_a_store(tmp_path: Path, content: str) -> None:
    path = tmp_path / "x.db"
    if content == "empty file":
        path.touch()
    else:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA user_version = 7")
    with open_store(path) as store:
        store.add_urls(["http://a/1"])
    with open_store(path, readonly=True) as reader:
        assert reader.counts().pending == 1
    assert journal_mode(path) == "wal"


def test_a_body_too_large_for_sqlite_fails_that_url_and_the_run_goes_on(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "x.db") as store:
        # SQLite's real limit is 1,000,000,000 bytes; lowered so a small body trips it.
        assert store._conn is not None
        store._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000)
        assert store.max_body_size == 9_993
        store.add_urls(["http://a/fits", "http://a/huge", "http://a/after"])
        store.record(Outcome("http://a/fits", State.DONE, 200, b"f" * 9_993))
        stored = store.record(Outcome("http://a/huge", State.DONE, 200, b"h" * 50_000, attempts=2))
        assert stored.state == State.FAILED, "record says how the outcome is stored"
        store.record(Outcome("http://a/after", State.DONE, 200, b"<a/>"))
        store.flush()
        assert store.read_body("http://a/fits") == b"f" * 9_993
        assert store.read_body("http://a/after") == b"<a/>"
        huge = store.lookup("http://a/huge")
        assert huge is not None
        assert huge["state"] == "failed"
        assert huge["http_status"] == 200
        assert huge["attempts"] == 2
        assert huge["error"] == (
            "body of 50,000 bytes is larger than the SQLite store allows (9,993);"
            " use a directory store (-o DIR/)"
        )
        assert store.read_body("http://a/huge") is None


def test_a_body_the_disk_refuses_is_a_store_write_error(
    tmp_path: Path, files_limited_to: LimitFiles
) -> None:
    with open_store(f"{tmp_path}/d/") as store:
        store.add_urls(["http://a/1", "http://a/2", "http://a/3"])
        store.record(Outcome("http://a/1", State.DONE, 200, b"<a/>"))
        store.flush()
        with files_limited_to(1 << 20), pytest.raises(StoreWriteError) as info:
            store.record(Outcome("http://a/2", State.DONE, 200, bytes(2 << 20)))
        assert str(info.value).startswith(f"cannot write a body file in {store.directory}: ")
        assert isinstance(info.value.__cause__, OSError)
        assert "\n" not in str(info.value)
        store.record(Outcome("http://a/3", State.DONE, 200, b"<c/>"))
        store.flush()
        assert [n for n in os.listdir(tmp_path / "d") if n.startswith(TEMP_PREFIX)] == []
        assert [store.read_body(f"http://a/{n}") for n in (1, 2, 3)] == [b"<a/>", None, b"<c/>"]
        assert store.counts().pending == 1


def test_one_writer_at_a_time_for_a_sqlite_store_readers_welcome(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with open_store(path) as writer:
        writer.add_urls(["http://a/1"])
        with pytest.raises(StoreBusyError, match="open for writing by another process"):
            open_store(path)
        with open_store(path, readonly=True) as reader:
            assert reader.counts().pending == 1
    with open_store(path) as again:
        assert again.counts().pending == 1


HOLD_THE_STORE = textwrap.dedent(
    """
    import sys, time
    from threadloom.store import open_store

    store = open_store(sys.argv[1])
    print("open", flush=True)
    time.sleep(60)
    """
)


def test_kill_9_of_a_sqlite_writer_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_STORE, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "open\n"
        with pytest.raises(StoreBusyError):
            open_store(path)
    finally:
        child.kill()
        child.wait()
    with open_store(path) as store:
        store.add_urls(["http://a/1"])
        assert store.counts().pending == 1
