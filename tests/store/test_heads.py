"""The final response's head (status line and header fields) in every store kind: kept
as received, exported parsed, surviving reopen and index rebuilds, and older stores
(schema version 1, without the column) read as they are and migrated when written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from threadloom.store import Outcome, State, open_store, parse_head
from threadloom.store._db import SCHEMA_VERSION

KINDS = {"sqlite": "urls.db", "directory": "out/", "jsonl": "out.jsonl"}

HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/html; charset=iso-8859-1\r\n"
    b"Set-Cookie: a=1; Path=/\r\n"
    b'ETag: "caf\xe9"\r\n'
    b"set-cookie: b=2\r\n"
)


@pytest.fixture(params=sorted(KINDS))
def store_path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / KINDS[request.param]) + ("/" if request.param == "directory" else "")


def done(url: str, head: bytes | None) -> Outcome:
    return Outcome(url, State.DONE, http_status=200, body=b"<doc/>", response_head=head)


def test_head_is_kept_byte_for_byte_and_exported_parsed(store_path: str) -> None:
    with open_store(store_path) as store:
        store.add_urls(["http://a/1", "http://a/2", "http://a/3"])
        store.record(done("http://a/1", HEAD))
        store.record(done("http://a/2", None))
        store.record(Outcome("http://a/3", State.FAILED, error="HTTP 404", response_head=HEAD))
    # Reopened: what was committed, not what a cache held.
    with open_store(store_path, readonly=True) as store:
        assert store.read_head("http://a/1") == HEAD
        assert store.read_head("http://a/2") is None
        assert store.read_head("http://a/3") is None, "a failed outcome keeps no head"
        assert store.read_head("http://unknown/") is None
        first, second, third = store.export()
        assert first["status_line"] == "HTTP/1.1 200 OK"
        assert first["headers"] == {
            "content-type": "text/html; charset=iso-8859-1",
            "set-cookie": ["a=1; Path=/", "b=2"],
            "etag": '"café"',
        }
        assert second["status_line"] is None
        assert second["headers"] is None
        assert third["headers"] is None


def test_a_retry_replaces_the_head(store_path: str) -> None:
    with open_store(store_path) as store:
        store.add_urls(["http://a/1"])
        store.record(done("http://a/1", HEAD))
        store.record(done("http://a/1", b'HTTP/2 200\r\netag: "v2"\r\n'))
        store.flush()
        assert store.read_head("http://a/1") == b'HTTP/2 200\r\netag: "v2"\r\n'


def test_jsonl_index_rebuilt_from_the_file_keeps_the_head(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(["http://a/1"])
        store.record(done("http://a/1", HEAD))
    (tmp_path / "out.jsonl.threadloom.db").unlink()
    with open_store(path) as store:
        assert store.read_head("http://a/1") == HEAD


# The schema of version 1, as threadloom wrote it before the head was kept.
_V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE urls (
    seq INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'invalid')),
    http_status INTEGER, size INTEGER, sha256 TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT, fetched_at REAL, content_type TEXT, final_url TEXT, processed TEXT,
    process_error TEXT, body_ref TEXT
);
CREATE INDEX urls_by_state ON urls (state, seq);
CREATE TABLE bodies (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1'), ('kind', 'sqlite');
INSERT INTO urls (url, state, http_status, size, attempts, fetched_at)
    VALUES ('http://a/old', 'done', 200, 6, 1, 1700000000.0),
           ('http://a/new', 'pending', NULL, NULL, 0, NULL);
INSERT INTO bodies VALUES (1, X'3C646F632F3E');
"""


def test_a_version_1_store_is_read_as_it_is_and_migrated_when_written(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_V1_SCHEMA)
    conn.close()
    with open_store(path, readonly=True) as store:
        old, _new = store.export()
        assert old["state"] == "done"
        assert old["headers"] is None
        assert store.read_head("http://a/old") is None
    conn = sqlite3.connect(path)
    assert "response_head" not in [row[1] for row in conn.execute("PRAGMA table_info(urls)")]
    conn.close()
    with open_store(path) as store:
        store.record(done("http://a/new", HEAD))
        store.flush()
        assert store.read_head("http://a/new") == HEAD
        assert store.read_body("http://a/old") == b"<doc/>"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    conn.close()


def test_a_store_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with open_store(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="newer than this threadloom"):
        open_store(path)


@pytest.mark.parametrize(
    ("head", "status_line", "headers"),
    [
        ("", None, {}),
        ("HTTP/2 304\r\n", "HTTP/2 304", {}),
        ("HTTP/1.1 200 OK\nA: 1\n", "HTTP/1.1 200 OK", {"a": "1"}),
        ("X-Long: one\r\n  two\r\n\tthree\r\n", None, {"x-long": "one two three"}),
        (
            "HTTP/1.0 200 OK\r\nno colon here\r\n: empty name\r\nA:\r\n",
            "HTTP/1.0 200 OK",
            {"a": ""},
        ),
        ("HTTP/1.1 200 OK\r\nA: 1\r\na: 2\r\nA: 3\r\n", "HTTP/1.1 200 OK", {"a": ["1", "2", "3"]}),
    ],
)
def test_parse_head(head: str, status_line: str | None, headers: dict[str, object]) -> None:
    assert parse_head(head) == (status_line, headers)


def test_a_jsonl_url_lost_to_truncation_loses_its_head_too(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(["http://a/1", "http://a/2"])
        store.record(done("http://a/1", HEAD))
        store.flush()
        store.record(done("http://a/2", HEAD))
    path.write_bytes(path.read_bytes().splitlines(keepends=True)[0])
    with open_store(path) as store:
        first, second = store.export()
        assert second["state"] == "pending"
        assert (second["status_line"], second["headers"]) == (None, None)
        assert first["status_line"] == "HTTP/1.1 200 OK"
