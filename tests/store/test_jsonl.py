"""JSON-lines store: the file format, round trip, resume and crash repair."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from threadloom.store import InputRow, Outcome, State, open_store
from threadloom.store._jsonl import INDEX_SUFFIX


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_one_line_per_outcome_with_text_or_base64_body(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(["http://a/text", "http://a/bin", "http://a/bad", "nope"])
        store.record(
            Outcome("http://a/text", State.DONE, 200, "<ü/>".encode(), processed={"root": "ü"})
        )
        store.record(Outcome("http://a/bin", State.DONE, 200, b"\xff\x00"))
        store.record(Outcome("http://a/bad", State.FAILED, 404, error="HTTP 404 Not Found"))
        store.flush()
        assert store.read_body("http://a/text") == "<ü/>".encode()
        assert store.read_body("http://a/bin") == b"\xff\x00"
    text, binary, bad = lines_of(path)
    assert (text["url"], text["state"], text["body"], text["encoding"]) == (
        "http://a/text",
        "done",
        "<ü/>",
        "utf-8",
    )
    assert text["processed"] == {"root": "ü"}
    assert binary["encoding"] == "base64"
    assert isinstance(binary["body"], str)
    assert base64.b64decode(binary["body"]) == b"\xff\x00"
    assert (bad["state"], bad["error"], bad["body"], bad["encoding"]) == (
        "failed",
        "HTTP 404 Not Found",
        None,
        None,
    )


def test_resume_appends_and_the_last_line_wins(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(["http://a/1", "http://a/2"])
        store.record(Outcome("http://a/1", State.DONE, 200, b"one"))
        store.record(Outcome("http://a/2", State.FAILED, 503, error="HTTP 503"))
    with open_store(path) as store:
        assert [r.url for r in store.pending()] == ["http://a/2"]
        store.record(Outcome("http://a/2", State.DONE, 200, b"two"))
        store.flush()
        assert store.counts().done == 2
        assert store.read_body("http://a/2") == b"two"
    assert [(e["url"], e["state"]) for e in lines_of(path)] == [
        ("http://a/1", "done"),
        ("http://a/2", "failed"),
        ("http://a/2", "done"),
    ]


def test_unindexed_lines_are_replayed_and_a_partial_line_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(["http://a/1", "http://a/2", "http://a/3"])
        store.record(Outcome("http://a/1", State.DONE, 200, b"one"))
    good = path.read_bytes()
    # As if the process died after appending a batch but before committing its index
    # rows, in the middle of writing the line after it.
    entry = json.loads(good)
    entry.update(url="http://a/2", body="two", sha256=None, size=3)
    with open(path, "ab") as file:
        file.write(json.dumps(entry).encode() + b"\n")
        file.write(b'{"url": "http://a/3", "sta')
    with open_store(path) as store:
        assert [r.url for r in store.pending()] == ["http://a/3"]
        assert store.read_body("http://a/2") == b"two"
        store.record(Outcome("http://a/3", State.DONE, 200, b"three"))
    assert [e["url"] for e in lines_of(path)] == ["http://a/1", "http://a/2", "http://a/3"]


def test_a_lost_index_is_rebuilt_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(["http://a/1", "http://a/2"])
        store.record(Outcome("http://a/1", State.DONE, 200, b"one"))
        store.record(Outcome("http://a/2", State.FAILED, 500, error="HTTP 500", attempts=3))
    index = path.with_name(path.name + INDEX_SUFFIX)
    for name in os.listdir(tmp_path):
        if name.startswith(index.name):
            os.unlink(tmp_path / name)
    with open_store(path) as store:
        rows = {row["url"]: row for row in store.export()}
        assert rows["http://a/1"]["state"] == "done"
        assert rows["http://a/2"]["attempts"] == 3
        assert store.read_body("http://a/1") == b"one"


def test_a_truncated_file_makes_its_lost_urls_pending_again(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(["http://a/1", "http://a/2"])
        store.record(Outcome("http://a/1", State.DONE, 200, b"one"))
        store.flush()
        store.record(Outcome("http://a/2", State.DONE, 200, b"two"))
    first_line = path.read_bytes().splitlines(keepends=True)[0]
    path.write_bytes(first_line)
    with open_store(path) as store:
        assert [r.url for r in store.pending()] == ["http://a/2"]
        assert store.read_body("http://a/1") == b"one"


def test_lines_carry_the_input_columns_and_a_rebuilt_index_gets_them_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(
            [InputRow("http://a/1", '{"caption":"été"}'), InputRow("http://a/2"), "http://a/3"]
        )
        for url in ("http://a/1", "http://a/2", "http://a/3"):
            store.record(Outcome(url, State.DONE, 200, b"x"))
        store.flush()
        store.record_processed("http://a/1", {"n": 1})  # a copy of the line keeps them
    lines = lines_of(path)
    assert [line["input"] for line in lines] == [{"caption": "été"}, None, None, {"caption": "été"}]
    assert lines[3]["processed"] == {"n": 1}
    index = path.with_name(path.name + INDEX_SUFFIX)
    for name in os.listdir(tmp_path):
        if name.startswith(index.name):
            os.unlink(tmp_path / name)
    with open_store(path) as store:
        assert store.read_input("http://a/1") == {"caption": "été"}
        assert store.read_input("http://a/3") is None
        assert store.lookup("http://a/1") is not None
