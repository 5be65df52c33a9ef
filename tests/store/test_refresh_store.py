"""`Store.record_refresh` and `Store.to_refresh` for every store kind: what each result
changes and keeps, stale selection, and the directory store's second body name."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from threadloom.store import (
    Outcome,
    Refreshed,
    RefreshResult,
    State,
    Store,
    file_name_for,
    open_store,
)
from threadloom.store._directory import alternate_name

KINDS = {"sqlite": "s.db", "directory": "d/", "jsonl": "s.jsonl"}
HEAD = b'HTTP/1.1 200 OK\r\nETag: "v1"\r\n'


def done(url: str, body: bytes, head: bytes = HEAD, at: float | None = None) -> Outcome:
    return Outcome(url, State.DONE, http_status=200, body=body, response_head=head, fetched_at=at)


@pytest.fixture(params=sorted(KINDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_store(f"{tmp_path}/{KINDS[request.param]}") as opened:
        yield opened


def test_each_result_changes_what_it_says_and_keeps_the_rest(store: Store) -> None:
    urls = ["http://a/same", "http://a/new", "http://a/gone"]
    for url in urls:
        store.record(done(url, b"old " + url.encode()))
    store.flush()
    store.record_refresh(Refreshed(urls[0], RefreshResult.CONFIRMED, at=1_700_000_000.5))
    new_head = b'HTTP/1.1 200 OK\r\nETag: "v2"\r\n'
    store.record_refresh(
        Refreshed(
            urls[1],
            RefreshResult.CHANGED,
            attempts=2,
            outcome=done(urls[1], b"new body", new_head),
        )
    )
    store.record_refresh(Refreshed(urls[2], RefreshResult.FAILED, error="HTTP 404 Not Found"))
    store.flush()

    same, new, gone = (store.lookup(url) for url in urls)
    assert same is not None
    assert new is not None
    assert gone is not None
    assert same["confirmed_at"] == "2023-11-14T22:13:20.500Z"
    assert (same["refresh_result"], same["attempts"]) == ("confirmed", 2)
    assert store.read_body(urls[0]) == b"old " + urls[0].encode()
    assert store.read_body(urls[1]) == b"new body"
    assert new["sha256"] == hashlib.sha256(b"new body").hexdigest()
    assert store.read_head(urls[1]) == new_head
    assert (new["refresh_result"], new["confirmed_at"], new["attempts"]) == ("changed", None, 3)
    assert store.read_body(urls[2]) == b"old " + urls[2].encode()
    assert store.read_head(urls[2]) == HEAD
    assert (gone["state"], gone["refresh_result"]) == ("done", "failed")
    assert gone["refresh_error"] == "HTTP 404 Not Found"
    counts = store.refresh_counts()
    assert (counts.confirmed, counts.changed, counts.failed) == (1, 1, 1)
    # A later success clears the error.
    store.record_refresh(Refreshed(urls[2], RefreshResult.CONFIRMED))
    store.flush()
    gone = store.lookup(urls[2])
    assert gone is not None
    assert (gone["refresh_result"], gone["refresh_error"]) == ("confirmed", None)


def test_to_refresh_selects_done_urls_by_age(store: Store) -> None:
    now = time.time()
    store.add_urls(["http://a/pending"])
    store.record(done("http://a/old", b"1", at=now - 7200))
    store.record(done("http://a/new", b"2", at=now))
    store.record(done("http://a/confirmed", b"3", at=now - 7200))
    store.record(Outcome("http://a/failed", State.FAILED, error="x"))
    store.flush()
    store.record_refresh(Refreshed("http://a/confirmed", RefreshResult.CONFIRMED, at=now))
    store.flush()

    every = [record.url for record in store.to_refresh()]
    stale = list(store.to_refresh(older_than=now - 3600))

    assert every == ["http://a/old", "http://a/new", "http://a/confirmed"]
    assert [record.url for record in stale] == ["http://a/old"]
    assert stale[0].response_head == HEAD
    assert stale[0].sha256 == hashlib.sha256(b"1").hexdigest()
    assert store.count_to_refresh() == 3
    assert store.count_to_refresh(older_than=now - 3600) == 1


def test_directory_bodies_alternate_between_two_names(tmp_path: Path) -> None:
    url = "http://a/page.html"
    with open_store(f"{tmp_path}/d/") as store:
        store.record(done(url, b"v1"))
        store.flush()
        names = []
        for version in (b"v2", b"v3"):
            store.record_refresh(Refreshed(url, RefreshResult.CHANGED, outcome=done(url, version)))
            store.flush()
            assert store.read_body(url) == version
            names.append(sorted(p.name for p in (tmp_path / "d").iterdir() if p.name[0] != "."))
    first = file_name_for(url)
    assert names == [[alternate_name(first)], [first]]


def test_a_refreshed_body_too_large_for_sqlite_is_a_failed_refresh(tmp_path: Path) -> None:
    url = "http://a/big"
    with open_store(tmp_path / "s.db") as store:
        store.record(done(url, b"small"))
        store.flush()
        assert store._conn is not None
        store._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000)
        kept = store.record_refresh(
            Refreshed(url, RefreshResult.CHANGED, outcome=done(url, b"x" * 2_000))
        )
        store.flush()
        assert kept.result is RefreshResult.FAILED
        assert store.read_body(url) == b"small"
        row = store.lookup(url)
        assert row is not None
        assert "larger than the SQLite store allows" in str(row["refresh_error"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"result": RefreshResult.FAILED},
        {"result": RefreshResult.CONFIRMED, "error": "x"},
        {"result": RefreshResult.CHANGED},
        {"result": RefreshResult.CONFIRMED, "outcome": done("http://a/", b"")},
        {"result": RefreshResult.CHANGED, "outcome": done("http://other/", b"")},
        {"result": RefreshResult.CHANGED, "outcome": Outcome("http://a/", State.FAILED, error="x")},
    ],
)
def test_a_malformed_refresh_result_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="refresh"):
        Refreshed("http://a/", **kwargs)  # type: ignore[arg-type]


def test_a_crash_before_the_commit_leaves_the_old_body_file(tmp_path: Path) -> None:
    """The new body goes under the other name before its row is queued: until the
    commit, the row and the file it names are the old ones."""
    url = "http://a/page"
    with open_store(f"{tmp_path}/d/") as store:
        store.record(done(url, b"old"))
        store.flush()
    with open_store(f"{tmp_path}/d/") as store:
        ref, superseded = store._keep_new_body(url, b"new")  # what record_refresh does first
    # The process "died" here: no row was committed.
    with open_store(f"{tmp_path}/d/", readonly=True) as store:
        assert store.read_body(url) == b"old"
    assert superseded == file_name_for(url)
    assert ref == alternate_name(file_name_for(url))
    assert os.path.exists(tmp_path / "d" / ref)  # left over; the next refresh overwrites it
