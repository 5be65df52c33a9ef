"""End to end through the CLI: ``fetch --input-format csv|tsv|jsonl`` keeps every other
column of a row with its URL, in every store kind, into the exports and ``--process``;
bad rows are one line each and recorded invalid; resume and old stores keep working."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from threadloom.cli import main
from threadloom.server import FaultServer
from threadloom.store import open_store
from threadloom.store._db import SCHEMA_VERSION
from threadloom.store._urls import COMMA_AND_SPACE_IN_URL, HEADER_LINE, TAB_IN_URL


def fetch(*args: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(main, ["fetch", "-q", "--retries", "0", *args], input=stdin)


def export_rows(store: Path | str) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["export", str(store)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def by_url(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(row["url"]): row for row in rows}


@pytest.mark.parametrize("name", ["out.db", "out/", "out.jsonl"])
def test_csv_rows_keep_their_columns_in_every_store_kind(
    tmp_path: Path, server: FaultServer, name: str
) -> None:
    one, two, three = (server.url(f"/docs/{n}.xml") for n in (1, 2, 3))
    # A byte order mark, CRLF line ends, a quoted comma, doubled quotes, a quoted line
    # break, non-ASCII text and an empty cell: as Excel writes a CSV file.
    text = (
        "\ufeffcaption,url,width\r\n"
        f'"a cat, ""big""",{one},10\r\n'
        f'"two\r\nlines",{two},20\r\n'
        f"café,{three},\r\n"
    )
    (tmp_path / "in.csv").write_bytes(text.encode("utf-8"))
    store = str(tmp_path / name) + ("/" if name.endswith("/") else "")
    result = fetch("-o", store, str(tmp_path / "in.csv"))
    assert result.exit_code == 0, result.output
    rows = by_url(export_rows(store))
    assert set(rows) == {one, two, three}
    assert rows[one]["input"] == {"caption": 'a cat, "big"', "width": "10"}
    assert rows[two]["input"] == {"caption": "two\r\nlines", "width": "20"}
    assert rows[three]["input"] == {"caption": "café", "width": ""}
    assert all(row["state"] == "done" for row in rows.values())


def test_the_format_is_detected_from_the_file_name(tmp_path: Path, server: FaultServer) -> None:
    one, two, three = (server.url(f"/docs/{n}.xml") for n in (1, 2, 3))
    (tmp_path / "a.tsv").write_text(f"url\tcaption\n{one}\ta cat\n")
    (tmp_path / "b.NDJSON").write_text(json.dumps({"url": two, "tags": ["x", 1]}) + "\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"n": None, "url": three}) + "\n")
    store = tmp_path / "out.db"
    for name in ("a.tsv", "b.NDJSON", "c.jsonl"):
        result = fetch("-o", str(store), str(tmp_path / name))
        assert result.exit_code == 0, result.output
    rows = by_url(export_rows(store))
    assert rows[one]["input"] == {"caption": "a cat"}
    assert rows[two]["input"] == {"tags": ["x", 1]}
    assert rows[three]["input"] == {"n": None}


def test_stdin_is_lines_unless_a_format_is_given(tmp_path: Path, server: FaultServer) -> None:
    url = server.url("/docs/4.xml")
    csv_text = f"url,caption\n{url},a cat\n"
    store = tmp_path / "out.db"
    as_csv = fetch("-o", str(store), "--input-format", "csv", "-", stdin=csv_text)
    assert as_csv.exit_code == 0, as_csv.output
    assert by_url(export_rows(store))[url]["input"] == {"caption": "a cat"}
    # Read as lines, the same text is two invalid lines whose reasons say what they are.
    lines_store = tmp_path / "lines.db"
    as_lines = fetch("-o", str(lines_store), "-", stdin=csv_text)
    assert as_lines.exit_code == 1
    reasons = {row["url"]: row["error"] for row in export_rows(lines_store)}
    assert reasons == {"url,caption": HEADER_LINE, f"{url},a cat": COMMA_AND_SPACE_IN_URL}
    assert "--input-format csv" in COMMA_AND_SPACE_IN_URL


def test_a_tsv_row_in_a_url_list_names_the_option(tmp_path: Path, server: FaultServer) -> None:
    url = server.url("/docs/5.xml")
    (tmp_path / "urls.txt").write_text(f"{url}\ta cat\n")
    store = tmp_path / "out.db"
    assert fetch("-o", str(store), str(tmp_path / "urls.txt")).exit_code == 1
    [row] = export_rows(store)
    assert (row["state"], row["error"]) == ("invalid", TAB_IN_URL)
    assert "--input-format tsv" in TAB_IN_URL


def test_url_column_names_the_column_and_a_missing_one_lists_the_columns(
    tmp_path: Path, server: FaultServer
) -> None:
    url = server.url("/docs/6.xml")
    (tmp_path / "in.csv").write_text(f"link,caption\n{url},a cat\n")
    store = tmp_path / "out.db"
    missing = fetch("-o", str(store), str(tmp_path / "in.csv"))
    assert missing.exit_code == 2
    assert "no column 'url' in the header (columns: 'link', 'caption')" in missing.output
    assert "--url-column" in missing.output
    assert not store.exists(), "a usage error touches no store"
    named = fetch("-o", str(store), "--url-column", "link", str(tmp_path / "in.csv"))
    assert named.exit_code == 0, named.output
    assert by_url(export_rows(store))[url]["input"] == {"caption": "a cat"}
    (tmp_path / "in.jsonl").write_text(json.dumps({"href": url, "k": 1}) + "\n")
    jsonl = fetch("-o", str(tmp_path / "j.db"), "--url-column", "href", str(tmp_path / "in.jsonl"))
    assert jsonl.exit_code == 0, jsonl.output
    # --url-column means nothing to a list of URLs.
    (tmp_path / "urls.txt").write_text(f"{url}\n")
    lines = fetch("-o", str(store), "--url-column", "link", str(tmp_path / "urls.txt"))
    assert lines.exit_code == 2
    assert "--url-column is for --input-format csv, tsv or jsonl" in lines.output
    twice = tmp_path / "twice.csv"
    twice.write_text(f"url,a,a\n{url},1,2\n")
    repeated = fetch("-o", str(store), str(twice))
    assert repeated.exit_code == 2
    assert "names column 'a' twice" in repeated.output


def test_bad_rows_are_one_line_each_recorded_invalid_and_the_run_goes_on(
    tmp_path: Path, server: FaultServer
) -> None:
    good = [server.url(f"/docs/{n}.xml") for n in (7, 8, 9)]
    csv_bytes = (
        f"url,caption\n{good[0]},ok\n".encode()
        + b"http://x/short\n"  # line 3: one cell
        + b",no url\n"  # line 4
        + b"http://x/\xff,latin\n"  # line 5
        + f"{good[1]},fine\n".encode()  # line 6
        + b"ftp://x/,not http\n"  # line 7: kept as an invalid URL, with its columns
        + b'http://x/open,"never closed\n'  # line 8
        + b"more\n"
    )
    (tmp_path / "in.csv").write_bytes(csv_bytes)
    store = tmp_path / "out.db"
    result = fetch("-o", str(store), str(tmp_path / "in.csv"))
    assert result.exit_code == 1
    said = [line for line in result.stderr.splitlines() if " line " in line]
    assert said == [
        f"threadloom: {tmp_path / 'in.csv'} line 3: 1 cell, the header has 2 columns",
        f"threadloom: {tmp_path / 'in.csv'} line 4: no URL in column 'url'",
        f"threadloom: {tmp_path / 'in.csv'} line 5: not UTF-8 (byte 0xff)",
        f"threadloom: {tmp_path / 'in.csv'} line 8: a quote is never closed (the row runs to"
        " the end)",
    ]
    rows = by_url(export_rows(store))
    assert rows["line 3: http://x/short"]["state"] == "invalid"
    assert rows["line 4: ,no url"]["error"] == "no URL in column 'url'"
    assert rows["line 5: http://x/\\xff,latin"]["error"] == "not UTF-8 (byte 0xff)"
    assert rows['line 8: http://x/open,"never closed\nmore']["state"] == "invalid"
    assert rows["ftp://x/"]["input"] == {"caption": "not http"}
    assert rows["ftp://x/"]["error"] == "unsupported scheme 'ftp' (only http and https)"
    assert [rows[url]["state"] for url in good[:2]] == ["done", "done"]

    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(
        "\n".join(
            [
                json.dumps({"url": good[2], "n": 1}),
                "{not json",
                "[1, 2]",
                json.dumps({"link": good[2]}),
                json.dumps({"url": 5}),
                "",
            ]
        )
    )
    bad = fetch("-o", str(tmp_path / "j.db"), str(jsonl))
    assert bad.exit_code == 1
    reasons = [line.split(" line ", 1)[1] for line in bad.stderr.splitlines() if " line " in line]
    assert reasons == [
        "2: not JSON (Expecting property name enclosed in double quotes at column 2)",
        "3: not a JSON object (a list)",
        "4: no 'url' key (keys: 'link')",
        "5: 'url' is a number, not a string",
    ]
    assert by_url(export_rows(tmp_path / "j.db"))[good[2]]["input"] == {"n": 1}


def test_the_first_row_of_a_url_wins_and_a_resumed_run_keeps_its_columns(
    tmp_path: Path, server: FaultServer
) -> None:
    one, two, failing = (
        server.url("/docs/10.xml"),
        server.url("/docs/11.xml"),
        server.url("/status/503"),
    )
    source = tmp_path / "in.csv"
    source.write_text(f"url,caption\n{one},first\n{failing},flaky\n{one},second\n")
    store = tmp_path / "out.db"
    first = fetch("-o", str(store), str(source))
    assert first.exit_code == 1  # the 503
    rows = by_url(export_rows(store))
    assert rows[one]["input"] == {"caption": "first"}
    assert rows[failing]["state"] == "failed"
    # The same command with more rows (and changed columns for a URL already there):
    # new rows are added with their columns, known URLs keep the columns they had.
    source.write_text(f"url,caption\n{one},changed\n{failing},flaky\n{two},new\n")
    again = fetch("-o", str(store), str(source))
    assert again.exit_code == 1
    rows = by_url(export_rows(store))
    assert list(rows) == [one, failing, two]
    assert rows[one]["input"] == {"caption": "first"}
    assert rows[one]["attempts"] == 1, "a done URL is not fetched again"
    assert rows[failing]["attempts"] == 2, "a failed URL is retried on resume"
    assert rows[two]["input"] == {"caption": "new"}


PROCESSOR = """
def caption(response):
    columns = response.input
    return None if columns is None else {"caption": columns["caption"], "size": len(response.body)}
"""


def test_process_functions_see_the_row_as_response_input(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "colproc.py").write_text(PROCESSOR)
    one, two, plain = (server.url(f"/docs/{n}.xml") for n in (12, 13, 14))
    (tmp_path / "in.csv").write_text(f"url,caption\n{one},a cat\n")
    (tmp_path / "urls.txt").write_text(f"{plain}\n")
    store = tmp_path / "out.db"
    fetched = fetch("-o", str(store), "--process", "colproc:caption", str(tmp_path / "in.csv"))
    assert fetched.exit_code == 0, fetched.output
    # Fetched without processing, then processed from the stored body by a later run.
    (tmp_path / "more.csv").write_text(f"url,caption\n{two},a dog\n")
    assert fetch("-o", str(store), str(tmp_path / "more.csv")).exit_code == 0
    assert fetch("-o", str(store), str(tmp_path / "urls.txt")).exit_code == 0
    stored = fetch("-o", str(store), "--process", "colproc:caption", str(tmp_path / "urls.txt"))
    assert stored.exit_code == 0, stored.output
    rows = by_url(export_rows(store))
    assert rows[one]["processed"] == {"caption": "a cat", "size": rows[one]["size"]}
    assert rows[two]["processed"] == {"caption": "a dog", "size": rows[two]["size"]}
    assert rows[plain]["processed"] is None, "a URL given as a line has no input"
    assert rows[plain]["process_error"] is None


def test_exports_carry_the_columns(tmp_path: Path, server: FaultServer) -> None:
    one, two = server.url("/docs/15.xml"), server.url("/docs/16.xml")
    (tmp_path / "in.jsonl").write_text(
        json.dumps({"url": one, "caption": "été", "tags": ["a"]}) + "\n" + json.dumps({"url": two})
    )
    store = tmp_path / "out.db"
    assert fetch("-o", str(store), str(tmp_path / "in.jsonl")).exit_code == 0
    rows = by_url(export_rows(store))
    assert rows[one]["input"] == {"caption": "été", "tags": ["a"]}
    assert rows[two]["input"] is None, "a row without other columns keeps none"

    copy = tmp_path / "copy"
    copied = CliRunner().invoke(main, ["export", str(store), "--format", "dir", "--to", str(copy)])
    assert copied.exit_code == 0, copied.output
    assert by_url(export_rows(copy))[one]["input"] == {"caption": "été", "tags": ["a"]}

    pq = pytest.importorskip("pyarrow.parquet")
    parquet = tmp_path / "out.parquet"
    result = CliRunner().invoke(
        main, ["export", str(store), "--format", "parquet", "--to", str(parquet)]
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(parquet)
    assert str(table.schema.field("input").type) == "string"
    inputs = [None if v is None else json.loads(v) for v in table.column("input").to_pylist()]
    assert inputs == [{"caption": "été", "tags": ["a"]}, None]

    pytest.importorskip("warcio")
    from warcio.archiveiterator import ArchiveIterator

    warc = tmp_path / "out.warc.gz"
    result = CliRunner().invoke(main, ["export", str(store), "--format", "warc", "--to", str(warc)])
    assert result.exit_code == 0, result.output
    with open(warc, "rb") as stream:
        records = [
            (r.rec_type, dict(r.rec_headers.headers), r.content_stream().read())
            for r in ArchiveIterator(stream)
        ]
    assert [kind for kind, _, _ in records] == [
        "warcinfo", "response", "request", "metadata", "response", "request",
    ]  # fmt: skip
    _, response_headers, _ = records[1]
    _, metadata_headers, content = records[3]
    assert metadata_headers["WARC-Refers-To"] == response_headers["WARC-Record-ID"]
    assert metadata_headers["WARC-Target-URI"] == one
    assert metadata_headers["Content-Type"] == "application/json"
    assert json.loads(content) == {"caption": "été", "tags": ["a"]}
    warcio = str(Path(sys.executable).with_name("warcio"))
    checked = subprocess.run(
        [warcio, "check", str(warc)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with gzip.open(warc) as raw:
        assert b"WARC-Type: metadata" in raw.read()


def test_a_store_of_schema_2_is_read_as_it_is_and_migrated_when_fetched_into(
    tmp_path: Path, server: FaultServer, schema_2_store: Callable[[Path], sqlite3.Connection]
) -> None:
    store = tmp_path / "old.db"
    conn = schema_2_store(store)
    with conn:
        conn.execute(
            "INSERT INTO urls (url, state, attempts, fetched_at, size, sha256, http_status)"
            " VALUES ('http://a/old', 'done', 1, 1700000000.0, 6, 'x', 200)"
        )
        conn.execute("INSERT INTO bodies VALUES (1, '<doc/>')")
    conn.close()
    [old] = export_rows(store)  # read-only: nothing changes
    assert (old["url"], old["input"]) == ("http://a/old", None)
    conn = sqlite3.connect(store)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    conn.close()
    url = server.url("/docs/17.xml")
    (tmp_path / "in.csv").write_text(f"url,caption\n{url},new\n")
    result = fetch("-o", str(store), str(tmp_path / "in.csv"))
    assert result.exit_code == 0, result.output
    rows = by_url(export_rows(store))
    assert rows["http://a/old"]["input"] is None
    assert rows[url]["input"] == {"caption": "new"}
    conn = sqlite3.connect(store)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert version == (str(SCHEMA_VERSION),)
    with open_store(store, readonly=True) as opened:
        assert opened.read_input(url) == {"caption": "new"}
        assert opened.read_input("http://a/old") is None
