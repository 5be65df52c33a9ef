"""Store semantics shared by every kind: states, input order, duplicates, invalid lines,
resume, counts, error reasons, export, bodies, open_store's dispatch."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from threadloom.store import (
    AddResult,
    DirectoryStore,
    JsonlStore,
    Outcome,
    SqliteStore,
    State,
    Store,
    StoreClosedError,
    StoreCounts,
    open_store,
)
from threadloom.store._db import PAGE_SIZE

KINDS = {"sqlite": "urls.db", "directory": "out/", "jsonl": "out.jsonl"}


def index_of(store: Store) -> Path:
    return store._index_path


@pytest.fixture(params=sorted(KINDS))
def store_path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / KINDS[request.param]) + ("/" if request.param == "directory" else "")


@pytest.fixture
def store(store_path: str) -> Iterator[Store]:
    with open_store(store_path) as opened:
        yield opened


def done(url: str, body: bytes = b"<doc/>", **kw: object) -> Outcome:
    return Outcome(url, State.DONE, http_status=200, body=body, **kw)  # type: ignore[arg-type]


def failed(url: str, error: str = "HTTP 503", **kw: object) -> Outcome:
    return Outcome(url, State.FAILED, http_status=503, error=error, **kw)  # type: ignore[arg-type]


def test_open_store_dispatches_on_the_path_form(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    cases: list[tuple[str | Path, type[Store]]] = [
        (tmp_path / "a.db", SqliteStore),
        (tmp_path / "a.SQLITE", SqliteStore),
        (tmp_path / "a.sqlite3", SqliteStore),
        (f"{tmp_path}/new/", DirectoryStore),
        (existing, DirectoryStore),
        (tmp_path / "a.jsonl", JsonlStore),
    ]
    for path, kind in cases:
        with open_store(path) as opened:
            assert type(opened) is kind
            assert opened.kind == kind.kind


@pytest.mark.parametrize("name", ["out.txt", "store", "x.json"])
def test_open_store_rejects_other_forms_naming_path_and_forms(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"\.db/\.sqlite/\.sqlite3.*directory.*\.jsonl") as info:
        open_store(tmp_path / name)
    assert name in str(info.value)


def test_create_false_and_readonly_need_an_existing_store(store_path: str) -> None:
    with pytest.raises(FileNotFoundError):
        open_store(store_path, create=False)
    with pytest.raises(FileNotFoundError):
        open_store(store_path, readonly=True)


def test_schema_has_the_documented_columns_and_wal(store: Store) -> None:
    conn = sqlite3.connect(index_of(store))
    columns = [row[1] for row in conn.execute("PRAGMA table_info(urls)")]
    assert columns == [
        "seq", "url", "state", "http_status", "size", "sha256", "attempts", "error",
        "fetched_at", "content_type", "final_url", "processed", "process_error", "body_ref",
        "response_head", "input", "confirmed_at", "refresh_result", "refresh_error",
    ]  # fmt: skip
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO urls (url, state) VALUES ('u', 'bogus')")
    conn.close()


def test_a_new_store_has_larger_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    with open_store(tmp_path / "new.db") as store:
        store.record(done("http://a/1"))
    conn = sqlite3.connect(tmp_path / "new.db")
    assert conn.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
    conn.close()
    # A store made with SQLite's default page size (by an earlier threadloom).
    with open_store(tmp_path / "old.db") as store:
        store.record(done("http://a/1"))
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("VACUUM")
    conn.close()
    with open_store(tmp_path / "old.db") as store:
        store.record(done("http://a/2", body=b"x" * 20_000))
        store.flush()
        assert store.read_body("http://a/2") == b"x" * 20_000
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("PRAGMA page_size").fetchone() == (4096,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_add_urls_counts_duplicates_invalid_and_skipped(store: Store) -> None:
    lines: list[str | bytes] = [
        "http://a/1",
        "# comment",
        "",
        "http://a/2\n",
        "http://a/1",
        b"http://a/\xff",
        "ftp://a/3",
        "ftp://a/3",
        "http://a/2",
    ]
    assert store.add_urls(lines) == AddResult(added=2, duplicates=3, invalid=2, skipped=2)
    assert store.add_urls(lines) == AddResult(added=0, duplicates=7, invalid=0, skipped=2)
    assert store.counts() == StoreCounts(total=4, done=0, failed=0, invalid=2, pending=2, bytes=0)
    rows = {row["url"]: row for row in store.export()}
    assert rows["http://a/\\xff"]["state"] == "invalid"
    assert rows["http://a/\\xff"]["error"] == "not UTF-8 (byte 0xff)"
    assert rows["ftp://a/3"]["error"] == "unsupported scheme 'ftp' (only http and https)"
    assert store.error_reasons() == [
        ("not UTF-8 (byte 0xff)", 1),
        ("unsupported scheme 'ftp' (only http and https)", 1),
    ]


def test_input_order_is_kept_across_batches_and_kinds(store: Store) -> None:
    urls = [f"http://h{i % 7}/{i}" for i in range(2500)]
    lines = [u if i % 100 else "not a url" + str(i) for i, u in enumerate(urls)]
    store.add_urls(lines, batch_size=64)
    assert [row["url"] for row in store.export(page_size=100)] == lines
    expected = [line for line in lines if line.startswith("http")]
    assert [r.url for r in store.pending(page_size=100)] == expected
    seqs = [r.seq for r in store.pending()]
    assert seqs == sorted(seqs)


def test_record_sets_every_field_and_export_shows_them(store: Store) -> None:
    store.add_urls(["http://a/ok", "http://a/bad"])
    body = "<catalog>ü</catalog>".encode()
    store.record(
        done(
            "http://a/ok",
            body,
            attempts=2,
            fetched_at=1_700_000_000.25,
            content_type="text/xml",
            final_url="http://a/ok2",
            processed={"root": "catalog", "elements": 42},
            response_head=b'HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nETag: "v1"\r\n',
        )
    )
    store.record(failed("http://a/bad", "HTTP 503 Service Unavailable", attempts=3))
    store.flush()
    ok, bad = list(store.export())
    assert ok == {
        "url": "http://a/ok",
        "state": "done",
        "http_status": 200,
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "attempts": 2,
        "error": None,
        "fetched_at": "2023-11-14T22:13:20.250Z",
        "content_type": "text/xml",
        "final_url": "http://a/ok2",
        "processed": {"root": "catalog", "elements": 42},
        "process_error": None,
        "status_line": "HTTP/1.1 200 OK",
        "headers": {"content-type": "text/xml", "etag": '"v1"'},
        "input": None,
        "confirmed_at": None,
        "refresh_result": None,
        "refresh_error": None,
    }
    assert bad["state"] == "failed"
    assert bad["status_line"] is None
    assert bad["headers"] is None
    assert bad["error"] == "HTTP 503 Service Unavailable"
    assert bad["attempts"] == 3
    assert bad["sha256"] is None
    assert bad["fetched_at"] is not None
    assert store.read_body("http://a/ok") == body
    assert store.read_body("http://a/bad") is None
    assert store.read_body("http://unknown/") is None
    assert store.lookup("http://a/ok") == ok
    assert store.lookup("http://unknown/") is None
    assert store.counts() == StoreCounts(2, 1, 1, 0, 0, len(body))


def test_binary_and_empty_bodies_round_trip(store: Store) -> None:
    binary = bytes(range(256)) * 3
    store.record(done("http://a/bin", binary))
    store.record(done("http://a/empty", b""))
    store.flush()
    assert store.read_body("http://a/bin") == binary
    assert store.read_body("http://a/empty") == b""


def test_process_error_is_stored_with_a_done_fetch(store: Store) -> None:
    store.record(done("http://a/x", process_error="ParseError: unclosed token: line 1"))
    store.flush()
    row = store.lookup("http://a/x")
    assert row is not None
    assert row["state"] == "done"
    assert row["process_error"] == "ParseError: unclosed token: line 1"


def test_record_document_stores_what_record_of_the_same_outcome_stores(store: Store) -> None:
    store.add_urls(["http://a/by-record", "http://a/by-document"])
    body = "<catalog>ü</catalog>".encode()
    head = b'HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nETag: "v1"\r\n'
    fields: dict[str, object] = {
        "attempts": 2,
        "content_type": "text/xml",
        "final_url": "http://a/moved",
        "response_head": head,
    }
    store.record(done("http://a/by-record", body, **fields))
    recorded = store.record_document(
        "http://a/by-document", body, 200, 2, "text/xml", "http://a/moved", head
    )
    store.flush()
    assert recorded is True
    by_record, by_document = list(store.export())
    # Same columns but the URL and the time of recording.
    for row in (by_record, by_document):
        assert row.pop("fetched_at") is not None
    assert by_record.pop("url") == "http://a/by-record"
    assert by_document.pop("url") == "http://a/by-document"
    assert by_document == by_record
    assert by_document["processed"] is None
    assert by_document["sha256"] is not None
    assert store.read_body("http://a/by-document") == body
    assert store.read_head("http://a/by-document") == head
    assert store.count_to_process() == 2, "not processed, as record() without processed"


@pytest.mark.parametrize(("url", "body"), [("", b"x"), ("http://a/", "text"), ("http://a/", None)])
def test_record_document_refuses_a_missing_url_or_a_body_not_bytes(
    store: Store, url: str, body: bytes
) -> None:
    with pytest.raises(TypeError):
        store.record_document(url, body, 200, 1)
    store.flush()
    assert store.counts().total == 0


def test_record_document_of_a_body_too_large_for_sqlite_records_the_failure(
    tmp_path: Path,
) -> None:
    with SqliteStore(tmp_path / "x.db") as store:
        assert store._conn is not None
        store._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000)
        assert store.record_document("http://a/fits", b"f" * 9_993, 200, 1) is True
        assert store.record_document("http://a/huge", b"h" * 50_000, 200, 2) is False
        store.flush()
        assert store.read_body("http://a/fits") == b"f" * 9_993
        huge = store.lookup("http://a/huge")
        assert huge is not None
        assert (huge["state"], huge["http_status"], huge["attempts"]) == ("failed", 200, 2)
        assert str(huge["error"]).startswith("body of 50,000 bytes is larger than the SQLite")
        assert store.read_body("http://a/huge") is None


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        (Outcome("http://a/", State.PENDING), ValueError),
        (Outcome("http://a/", State.INVALID, error="x"), ValueError),
        (Outcome("http://a/", State.DONE), ValueError),
        (Outcome("http://a/", State.FAILED), ValueError),
        (Outcome("", State.FAILED, error="x"), TypeError),
        (Outcome("http://a/", State.DONE, body=b"", processed={1, 2}), TypeError),
    ],
)
def test_malformed_outcomes_raise_in_record(
    store: Store, outcome: Outcome, error: type[Exception]
) -> None:
    with pytest.raises(error):
        store.record(outcome)
    store.flush()
    assert store.counts().total == 0


def test_resume_skips_done_and_retries_failed_unless_asked(store_path: str) -> None:
    urls = [f"http://a/{i}" for i in range(10)]
    with open_store(store_path) as first:
        first.add_urls(urls)
        first.record(done(urls[1]))
        first.record(failed(urls[2]))
        first.record(done(urls[5]))
        first.record(failed(urls[7]))
    with open_store(store_path) as second:
        assert second.add_urls(urls) == AddResult(duplicates=10)
        todo = [r.url for r in second.pending()]
        assert todo == [u for i, u in enumerate(urls) if i not in {1, 5}]
        states = {r.url: r.state for r in second.pending()}
        assert states[urls[2]] is State.FAILED
        assert states[urls[0]] is State.PENDING
        assert [r.url for r in second.pending(include_failed=False)] == [
            u for i, u in enumerate(urls) if i not in {1, 2, 5, 7}
        ]
        # A retried URL accumulates attempts across runs.
        second.record(done(urls[2], attempts=2))
        second.flush()
        row = second.lookup(urls[2])
        assert row is not None
        assert (row["state"], row["attempts"], row["error"]) == ("done", 3, None)


def test_pending_does_not_repeat_urls_that_fail_during_the_iteration(store: Store) -> None:
    urls = [f"http://a/{i}" for i in range(50)]
    store.add_urls(urls)
    seen = []
    for record in store.pending(page_size=7):
        seen.append(record.url)
        store.record(failed(record.url))
        store.flush()
    assert seen == urls


def test_pending_skips_urls_done_before_their_page_is_read(store: Store) -> None:
    urls = [f"http://a/{i}" for i in range(30)]
    store.add_urls(urls)
    iterator = store.pending(page_size=10)
    first = next(iterator)
    for url in urls[20:]:
        store.record(done(url))
    store.flush()
    rest = [r.url for r in iterator]
    assert [first.url, *rest] == urls[:20]


def test_reads_see_committed_data_only_and_flush_commits(store_path: str) -> None:
    # A long max_delay: nothing is committed until flush asks for it.
    with open_store(store_path, max_delay=60) as opened:
        opened.add_urls(["http://a/1"])
        opened.record(done("http://a/1"))
        assert opened.counts().done == 0
        opened.flush()
        assert opened.counts().done == 1


def test_readonly_store_reads_while_another_writes(store_path: str) -> None:
    with open_store(store_path) as writer:
        writer.add_urls(["http://a/1", "http://a/2"])
        writer.record(done("http://a/1"))
        writer.flush()
        with open_store(store_path, readonly=True) as reader:
            assert reader.counts().done == 1
            assert [r.url for r in reader.pending()] == ["http://a/2"]
            assert reader.read_body("http://a/1") == b"<doc/>"
            with pytest.raises(StoreClosedError):
                reader.record(done("http://a/2"))
            with pytest.raises(StoreClosedError):
                reader.add_urls(["http://a/3"])


def test_a_store_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    with open_store(f"{tmp_path}/d/") as directory:
        directory.add_urls(["http://a/"])
    with pytest.raises(ValueError, match="'directory' store, not a 'sqlite' store"):
        SqliteStore(tmp_path / "d" / ".threadloom.db")


def test_closed_store_refuses_and_close_is_idempotent(store: Store) -> None:
    store.close()
    store.close()
    assert store.closed
    with pytest.raises(StoreClosedError):
        store.record(done("http://a/"))
    with pytest.raises(StoreClosedError):
        store.counts()
