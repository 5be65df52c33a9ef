"""Reading CSV, TSV and JSON-lines rows (jobs/_columns.py): where a row ends, hostile
input (huge rows, quotes never closed, NUL bytes, a byte order mark), pauses of a
silent pipe passed on, and rows committed while the pipe is silent."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadloom.jobs._columns import (
    MAX_ROW_BYTES,
    ColumnRows,
    InputFormatError,
    detect_format,
    read_input,
)
from threadloom.store import AddItem, InputRow, Invalid, open_store


def rows_of(
    tmp_path: Path, data: bytes, fmt: str, **kwargs: object
) -> tuple[list[AddItem], list[tuple[int, str]]]:
    path = tmp_path / f"in.{fmt}"
    path.write_bytes(data)
    bad: list[tuple[int, str]] = []
    rows = read_input(str(path), fmt, on_bad_row=lambda n, r: bad.append((n, r)), **kwargs)  # type: ignore[arg-type]
    return [item for item in rows if item is not None and item != b""], bad


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("A.CSV", "csv"),
        ("a.tsv", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.txt", "lines"),
        ("a.json", "lines"),
        ("csv", "lines"),
        ("-", "lines"),
        ("/dev/fd/3", "lines"),
    ],
)
def test_the_format_a_name_says(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt


_cells = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_cells, min_size=2, max_size=2), max_size=6), st.sampled_from([",", "\t"]))
def test_rows_written_by_the_csv_module_are_read_back_whole(
    tmp_path_factory: pytest.TempPathFactory, table: list[list[str]], delimiter: str
) -> None:
    # Quotes, delimiters, line breaks (\n, \r\n, \r), NUL and any text in a cell: the
    # row ends where csv says it does.
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)  # lines end "\r\n", as Excel writes
    writer.writerow(["url", "text"])
    rows = [[f"http://x/{n}", text] for n, (_, text) in enumerate(table)]
    writer.writerows(rows)
    fmt = "tsv" if delimiter == "\t" else "csv"
    items, bad = rows_of(tmp_path_factory.mktemp("t"), out.getvalue().encode(), fmt)
    assert bad == []
    assert items == [
        InputRow(url, json.dumps({"text": text}, ensure_ascii=False, separators=(",", ":")))
        for url, text in rows
    ]


def test_a_huge_row_is_one_bad_row_and_the_rows_around_it_survive(tmp_path: Path) -> None:
    data = (
        b"url,text\nhttp://x/1,a\n"
        + b"http://x/2,"
        + b"y" * (2 * MAX_ROW_BYTES)
        + b"\n"
        + b"http://x/3,c\n"
    )
    items, bad = rows_of(tmp_path, data, "csv")
    assert items[0] == InputRow("http://x/1", '{"text":"a"}')
    assert isinstance(items[1], Invalid)
    assert items[1].reason == "longer than 1 MiB"
    assert len(items[1].key) < 2000, "a bad row is stored cut"
    assert items[2] == InputRow("http://x/3", '{"text":"c"}')
    assert bad == [(3, "longer than 1 MiB")]


def test_a_quote_never_closed_costs_at_most_a_row_and_reading_goes_on(tmp_path: Path) -> None:
    lines = [b'http://x/2,"open'] + [b"z" * 1000] * (MAX_ROW_BYTES // 1000 + 10)
    data = b"url,text\n" + b"\n".join(lines) + b"\nhttp://x/3,c\n"
    items, bad = rows_of(tmp_path, data, "csv")
    assert bad[0] == (2, "longer than 1 MiB (a quote never closed?)")
    assert items[-1] == InputRow("http://x/3", '{"text":"c"}')


def test_nul_bytes_and_a_byte_order_mark(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfurl,text\nhttp://x/1,a\x00b\nhttp://x/\x002,c\n"
    items, bad = rows_of(tmp_path, data, "csv")
    assert items[0] == InputRow("http://x/1", '{"text":"a\\u0000b"}')
    assert items[1] == InputRow("http://x/\x002", '{"text":"c"}')  # the store says why
    assert bad == []
    with open_store(tmp_path / "s.db") as store:
        result = store.add_urls(items)
        assert (result.added, result.invalid) == (1, 1)
        assert store.lookup("http://x/\x002") == store.lookup("http://x/\x002") is not None
        row = store.lookup("http://x/\x002")
        assert row is not None
        assert (row["state"], row["error"]) == ("invalid", "control character in URL")
        assert row["input"] == {"text": "c"}
    jsonl = b'\xef\xbb\xbf{"url": "http://x/1", "t": "\\u0000"}\n'
    items, bad = rows_of(tmp_path, jsonl, "jsonl")
    assert items == [InputRow("http://x/1", '{"t":"\\u0000"}')]


def test_hostile_json_lines_are_bad_rows(tmp_path: Path) -> None:
    data = b"\n".join(
        [
            b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser's recursion
            b'{"url": "http://x/1", "n": 1e999}',  # Infinity: not JSON
            b'{"url": "http://x/1", "n": ' + b"9" * 5000 + b"}",  # digits past int's limit
            b'{"url": "http://x/\\ud800"}',  # a lone surrogate in the URL
            b'{"url": "http://x/2", "t": "\\ud800"}',  # ... elsewhere: kept, escaped
            b'{"url": "http://x/3"}\xff',
        ]
    )
    items, bad = rows_of(tmp_path, data, "jsonl")
    assert [line for line, _ in bad] == [1, 2, 3, 4, 6]
    assert items[4] == InputRow("http://x/2", '{"t":"\\ud800"}')
    with open_store(tmp_path / "s.db") as store:
        result = store.add_urls(items)
        assert (result.added, result.invalid) == (1, 5)
        assert store.read_input("http://x/2") == {"t": "\ud800"}


def test_the_header_is_checked_before_reading_on(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("link,text\nhttp://x/1,a\n")
    rows = read_input(str(path), "csv")
    assert isinstance(rows, ColumnRows)
    with pytest.raises(
        InputFormatError, match=r"no column 'url' in the header \(columns: 'link', 'text'\)"
    ):
        rows.check_columns()
    rows = read_input(str(path), "csv", url_column="link")
    assert isinstance(rows, ColumnRows)
    assert rows.check_columns() == ["link", "text"]
    assert [item for item in rows if item is not None] == [InputRow("http://x/1", '{"text":"a"}')]
    path.write_text("")
    empty = read_input(str(path), "csv")
    assert isinstance(empty, ColumnRows)
    assert empty.check_columns() is None
    assert list(empty) == []


def test_rows_from_a_silent_pipe_are_committed_while_it_is_silent(tmp_path: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    writer_done = threading.Event()

    def write_then_stay_silent() -> None:
        with fifo.open("wb") as handle:
            handle.write(b'url,text\nhttp://a/1,"one\nrow"\n')
            handle.flush()
            writer_done.wait(10)
            handle.write(b"http://a/2,two\n")

    threading.Thread(target=write_then_stay_silent, daemon=True).start()
    rows = read_input(str(fifo), "csv", pause=0.05)
    assert isinstance(rows, ColumnRows)
    assert rows.check_columns() == ["url", "text"]
    with open_store(tmp_path / "s.db") as store:
        seen: list[AddItem] = []
        pending_after_pause = -1

        def items() -> Iterator[AddItem]:
            nonlocal pending_after_pause
            for item in rows:
                seen.append(item)
                if item is None and len(seen) > 12 and pending_after_pause < 0:
                    pending_after_pause = store.count_pending(True)
                    writer_done.set()
                yield item

        result = store.add_urls(items(), max_delay=0.2)
        assert result.added == 2
        assert store.read_input("http://a/1") == {"text": "one\nrow"}
    assert seen[0] == InputRow("http://a/1", '{"text":"one\\nrow"}')
    assert pending_after_pause == 1, "the row stayed uncommitted while the pipe was silent"
