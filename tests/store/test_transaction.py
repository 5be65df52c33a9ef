"""`transaction`: commit, roll back, and keep the real error when SQLite already rolled back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from threadloom.store._db import connect, transaction


def _table(tmp_path: Path) -> sqlite3.Connection:
    conn = connect(tmp_path / "t.db", create=True)
    conn.execute("CREATE TABLE t (b BLOB)")
    return conn


def test_commits_the_block(tmp_path: Path) -> None:
    conn = _table(tmp_path)
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (x'01')")
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    conn.close()


def test_rolls_back_and_reraises_an_error_of_the_block(tmp_path: Path) -> None:
    conn = _table(tmp_path)

    def insert_then_fail() -> None:
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (x'01')")
            raise KeyError("boom")

    with pytest.raises(KeyError):
        insert_then_fail()
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.close()


def test_keeps_the_error_after_sqlite_rolled_back_by_itself(tmp_path: Path) -> None:
    conn = _table(tmp_path)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")

    def insert_too_much() -> None:
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (?)", (bytes(1_000_000),))

    with pytest.raises(sqlite3.OperationalError, match="full"):
        insert_too_much()
    assert not conn.in_transaction
    conn.close()
