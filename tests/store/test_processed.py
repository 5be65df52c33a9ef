"""Processing after the fetch: `Store.to_process` lists done URLs whose processing is
missing or failed, `Store.record_processed` records a new processing outcome without
touching the body, for every store kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from threadloom.store import Outcome, State, Store, open_store

KINDS = {"sqlite": "s.db", "directory": "d/", "jsonl": "s.jsonl"}

BODY = "<doc>é</doc>".encode()


def fill(store: Store) -> dict[str, str]:
    """Five URLs: never processed, processed, processing failed, processed to None, failed."""
    urls = {name: f"http://127.0.0.1/{name}" for name in ("plain", "ok", "bad", "none", "gone")}
    store.add_urls(urls.values())
    store.record(Outcome(urls["plain"], State.DONE, 200, BODY, attempts=2, content_type="text/x"))
    store.record(Outcome(urls["ok"], State.DONE, 200, BODY, processed={"n": 1}))
    store.record(Outcome(urls["bad"], State.DONE, 200, BODY, process_error="ValueError: no"))
    store.record(Outcome(urls["none"], State.DONE, 200, BODY, processed=None))
    store.record(Outcome(urls["gone"], State.FAILED, 404, error="HTTP 404 Not Found"))
    store.flush()
    return urls


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_to_process_lists_missing_and_failed_processing(tmp_path: Path, kind: str) -> None:
    with open_store(f"{tmp_path}/{KINDS[kind]}") as store:
        urls = fill(store)
        todo = list(store.to_process(page_size=1))
        assert [record.url for record in todo] == [urls["plain"], urls["bad"]]
        assert todo[0].content_type == "text/x"
        assert todo[0].http_status == 200
        assert store.count_to_process() == 2
        every = [record.url for record in store.to_process(redo=True)]
        assert every == [urls[name] for name in ("plain", "ok", "bad", "none")]
        assert store.count_to_process(redo=True) == 4
        assert store.counts().process_failed == 1


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_record_processed_changes_processing_only(tmp_path: Path, kind: str) -> None:
    path = f"{tmp_path}/{KINDS[kind]}"
    with open_store(path) as store:
        urls = fill(store)
        before = {row["url"]: row for row in store.export()}
        store.record_processed(urls["plain"], {"root": "doc"})
        store.record_processed(urls["bad"], process_error="KeyError: 'x'")
        store.record_processed(urls["ok"], None)
        store.record_processed(urls["gone"], {"never": "stored"})  # not done: unchanged
        store.flush()
        after = {row["url"]: row for row in store.export()}
        assert after[urls["plain"]]["processed"] == {"root": "doc"}
        assert after[urls["plain"]]["process_error"] is None
        assert after[urls["bad"]]["process_error"] == "KeyError: 'x'"
        assert after[urls["ok"]]["processed"] is None
        assert after[urls["gone"]] == before[urls["gone"]]
        for url in urls.values():
            changed = {k for k in after[url] if after[url][k] != before[url][k]}
            assert changed <= {"processed", "process_error"}, (url, changed)
        assert store.read_body(urls["plain"]) == BODY
        # None is a result (JSON null): not listed as missing any more.
        assert [r.url for r in store.to_process()] == [urls["bad"]]
        assert store.counts().process_failed == 1
    with open_store(path, readonly=True) as reopened:
        again = {row["url"]: row for row in reopened.export()}
        assert again == after
        assert reopened.read_body(urls["plain"]) == BODY


def test_jsonl_file_carries_the_new_outcome_and_a_rebuilt_index_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with open_store(str(path)) as store:
        urls = fill(store)
        store.record_processed(urls["plain"], {"root": "doc"})
        store.flush()
        expected = {row["url"]: row for row in store.export()}
    lines = [json.loads(line) for line in path.read_bytes().splitlines()]
    last = [entry for entry in lines if entry["url"] == urls["plain"]][-1]
    assert last["processed"] == {"root": "doc"}
    assert last["body"] == BODY.decode()
    assert last["attempts"] == 0
    # The index can be rebuilt from the file alone (input order then follows the file).
    (tmp_path / "s.jsonl.threadloom.db").unlink()
    with open_store(str(path)) as rebuilt:
        row = rebuilt.lookup(urls["plain"])
        assert row is not None
        assert row["processed"] == {"root": "doc"}
        assert row["attempts"] == expected[urls["plain"]]["attempts"] == 2
        assert rebuilt.read_body(urls["plain"]) == BODY


@pytest.mark.parametrize(
    ("processed", "error", "exception"),
    [
        ({1, 2}, None, TypeError),
        ({"a": 1}, "ValueError: both", ValueError),
        (float("nan"), None, ValueError),
    ],
)
def test_malformed_processing_outcomes_raise_in_the_caller(
    tmp_path: Path, processed: object, error: str | None, exception: type[Exception]
) -> None:
    with open_store(str(tmp_path / "s.db")) as store:
        urls = fill(store)
        with pytest.raises(exception):
            store.record_processed(urls["plain"], processed, error)
        with pytest.raises(ValueError, match="needs a result or an error"):
            store.record_processed(urls["plain"])


def test_jsonl_processed_values_that_look_like_the_body_key(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    tricky = {"a": 1, "body": ',"body":"x"', "encoding": None}
    with open_store(str(path)) as store:
        urls = fill(store)
        store.record_processed(urls["plain"], tricky)
        store.flush()
        store.record_processed(urls["plain"], {"again": tricky})
        store.flush()
        assert store.read_body(urls["plain"]) == BODY
    last = [json.loads(line) for line in path.read_bytes().splitlines()][-1]
    assert last["processed"] == {"again": tricky}
    assert last["body"] == BODY.decode()
    assert last["encoding"] == "utf-8"
    (tmp_path / "s.jsonl.threadloom.db").unlink()
    with open_store(str(path)) as rebuilt:
        row = rebuilt.lookup(urls["plain"])
        assert row is not None
        assert row["processed"] == {"again": tricky}
        assert rebuilt.read_body(urls["plain"]) == BODY
