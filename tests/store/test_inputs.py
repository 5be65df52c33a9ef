"""Input columns in the store (schema version 3): `add_urls` with `InputRow` and
`Invalid` items, the first row of a URL wins, `read_input` and `export` in every kind."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from threadloom.store import InputRow, Invalid, Store, open_store


@pytest.fixture(params=["s.db", "d/", "s.jsonl"])
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    name = str(request.param)
    with open_store(str(tmp_path / name) + ("/" if name.endswith("/") else "")) as opened:
        yield opened


def test_rows_keep_their_columns_and_the_first_row_of_a_url_wins(store: Store) -> None:
    result = store.add_urls(
        [
            InputRow("http://a/1", '{"caption":"first"}'),
            InputRow(" http://a/2 ", None),  # stripped, as a line is
            InputRow("http://a/1", '{"caption":"second"}'),
            InputRow("ftp://a/3", '{"caption":"kept with the invalid URL"}'),
            InputRow("", '{"caption":"no URL"}'),
            InputRow("#x", '{"caption":"not a comment"}'),
            Invalid("line 9: a,b", "2 cells, the header has 3 columns"),
            "http://a/plain",
        ]
    )
    assert (result.added, result.duplicates, result.invalid, result.skipped) == (3, 1, 4, 0)
    assert store.read_input("http://a/1") == {"caption": "first"}
    assert store.read_input("http://a/2") is None
    assert store.read_input("http://a/plain") is None
    assert store.read_input("http://a/unknown") is None
    rows = {row["url"]: row for row in store.export()}
    assert rows["ftp://a/3"]["input"] == {"caption": "kept with the invalid URL"}
    assert rows["ftp://a/3"]["state"] == "invalid"
    assert rows[""]["error"] == "empty URL cell"
    assert rows["#x"]["error"] == "not a URL (expected http:// or https://)"
    assert rows["line 9: a,b"]["error"] == "2 cells, the header has 3 columns"
    assert rows["http://a/plain"]["input"] is None


def test_a_store_knows_whether_it_has_columns_across_opens(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(path) as store:
        store.add_urls(["http://a/1"])
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM meta WHERE key = 'has_input'").fetchone() == (0,)
    conn.close()
    with open_store(path) as store:
        assert store.read_input("http://a/1") is None
        store.add_urls([InputRow("http://a/2", '{"k":1}')])
        assert store.read_input("http://a/2") == {"k": 1}
    with open_store(path) as store:
        assert store.read_input("http://a/2") == {"k": 1}
    with open_store(path, readonly=True) as store:
        assert store.read_input("http://a/2") == {"k": 1}
