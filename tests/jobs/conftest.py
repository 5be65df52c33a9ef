"""Fixtures for the fetch job: the project's own fault-injecting server on 127.0.0.1."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from threadloom.server import FaultServer


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    """A FaultServer with 200 documents and no added latency."""
    with FaultServer(documents=200) as running:
        yield running


# The SQLite store of schema version 2, as threadloom wrote it before the input (3) and
# refresh (4) columns.
_SCHEMA_2 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE urls (
    seq INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'invalid')),
    http_status INTEGER, size INTEGER, sha256 TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT, fetched_at REAL, content_type TEXT, final_url TEXT, processed TEXT,
    process_error TEXT, body_ref TEXT, response_head TEXT
);
CREATE INDEX urls_by_state ON urls (state, seq);
CREATE TABLE bodies (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);
INSERT INTO meta VALUES ('schema_version', '2'), ('kind', 'sqlite');
"""


@pytest.fixture
def schema_2_store() -> Callable[[Path], sqlite3.Connection]:
    """``schema_2_store(path)`` writes an empty store of schema version 2 at ``path`` and
    returns a connection to it (the caller adds rows and closes it)."""

    def make(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path)
        conn.executescript(_SCHEMA_2)
        return conn

    return make
