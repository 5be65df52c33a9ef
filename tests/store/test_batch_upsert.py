"""A batch is written with multi-row statements: same result as one outcome at a time,
whatever the batch holds (one URL several times, done after failed and back) and however
SQLite's variable limit splits it into chunks."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

import pytest

from threadloom.store import Outcome, State, Store, open_store

KINDS = {"sqlite": "urls.db", "directory": "out/", "jsonl": "out.jsonl"}


def outcomes(seed: int, count: int) -> list[Outcome]:
    """``count`` outcomes over a few URLs, each URL recorded several times."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        url = f"http://127.0.0.1/doc/{rng.randrange(count // 3)}"
        if rng.random() < 0.6:
            body = f"body {i} ".encode() * rng.randrange(0, 50)
            made.append(
                Outcome(url, State.DONE, 200, body=body, attempts=rng.randrange(1, 4), fetched_at=i)
            )
        else:
            made.append(
                Outcome(url, State.FAILED, 503, attempts=2, error=f"HTTP 503 ({i})", fetched_at=i)
            )
    return made


def snapshot(store: Store) -> list[tuple[dict[str, object], bytes | None]]:
    return [(row, store.read_body(str(row["url"]))) for row in store.export()]


def record_all(store: Store, items: list[Outcome]) -> None:
    for outcome in items:
        store.record(outcome)
    store.flush()


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_batch_equals_one_outcome_per_batch(tmp_path: Path, kind: str, seed: int) -> None:
    items = outcomes(seed, 60)
    urls = sorted({o.url for o in items})
    target = KINDS[kind]
    suffix = "/" if kind == "directory" else ""
    (tmp_path / "one").mkdir()
    (tmp_path / "all").mkdir()
    with open_store(str(tmp_path / "one" / target) + suffix, max_batch=1) as single:
        single.add_urls(urls)
        record_all(single, items)
        expected = snapshot(single)
    with open_store(
        str(tmp_path / "all" / target) + suffix, max_batch=len(items), max_delay=30
    ) as batched:
        batched.add_urls(urls)
        record_all(batched, items)
        assert batched.writer_statistics().batches == 1
        got = snapshot(batched)
    # Directory and JSONL stores name their files after the store; compare the rest.
    for row, _ in expected + got:
        row.pop("body_ref", None)
    assert got == expected


def test_same_url_in_one_batch_sums_attempts_and_keeps_the_last_body(tmp_path: Path) -> None:
    url = "http://127.0.0.1/a"
    with open_store(tmp_path / "s.db", max_batch=3, max_delay=30) as store:
        record_all(
            store,
            [
                Outcome(url, State.DONE, 200, body=b"first", attempts=1),
                Outcome(url, State.FAILED, 500, attempts=2, error="HTTP 500"),
                Outcome(url, State.DONE, 200, body=b"last", attempts=3),
            ],
        )
        assert store.writer_statistics().batches == 1
        row = store.lookup(url)
        assert row is not None
        assert (row["state"], row["attempts"], row["sha256"]) == (
            "done",
            6,
            hashlib.sha256(b"last").hexdigest(),
        )
        assert store.read_body(url) == b"last"
    with open_store(tmp_path / "s.db", max_batch=2, max_delay=30) as store:
        record_all(
            store,
            [
                Outcome(url, State.DONE, 200, body=b"again", attempts=1),
                Outcome(url, State.FAILED, 404, attempts=1, error="HTTP 404"),
            ],
        )
        row = store.lookup(url)
        assert row is not None
        assert (row["state"], row["attempts"], row["sha256"]) == ("failed", 8, None)
        assert store.read_body(url) is None
        conn = sqlite3.connect(tmp_path / "s.db")
        try:
            assert conn.execute("SELECT count(*) FROM bodies").fetchone() == (0,)
        finally:
            conn.close()


def test_batches_split_under_a_low_variable_limit(tmp_path: Path) -> None:
    items = outcomes(7, 90)
    urls = sorted({o.url for o in items})
    with open_store(tmp_path / "one.db", max_batch=1) as single:
        single.add_urls(urls)
        record_all(single, items)
        expected = snapshot(single)
    with open_store(tmp_path / "low.db", max_batch=len(items), max_delay=30) as store:
        store.add_urls(urls)
        conn = store._conn
        assert conn is not None
        # 40 variables: 3 url rows, 20 body rows, 40 dropped URLs per statement.
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)
        record_all(store, items)
        assert store.writer_statistics().batches == 1
        assert snapshot(store) == expected
