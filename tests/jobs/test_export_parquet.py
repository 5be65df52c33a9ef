"""End to end: ``threadloom fetch`` then ``threadloom export --format parquet``, read back
with pyarrow; row groups bound the memory; without pyarrow, one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from threadloom.cli import main
from threadloom.server import FaultServer
from threadloom.store import Outcome, State, open_store
from threadloom.store._parquet import write_parquet

pq = pytest.importorskip("pyarrow.parquet")


def test_parquet_has_the_json_columns_and_the_bodies(tmp_path: Path, server: FaultServer) -> None:
    urls = [server.url(f"/docs/{n}.xml") for n in range(6)]
    urls += [server.url("/redirect/1?doc=2"), server.url("/status/404"), "not a url"]
    (tmp_path / "urls.txt").write_text("".join(f"{url}\n" for url in urls))
    store = tmp_path / "out.db"
    fetched = CliRunner().invoke(
        main, ["fetch", "-q", "--retries", "0", "-o", str(store), str(tmp_path / "urls.txt")]
    )
    assert fetched.exit_code == 1, fetched.output
    target = tmp_path / "out.parquet"
    result = CliRunner().invoke(
        main, ["export", str(store), "--format", "parquet", "--to", str(target)]
    )
    assert result.exit_code == 0, result.output
    exported = CliRunner().invoke(main, ["export", str(store)])
    rows = [json.loads(line) for line in exported.output.splitlines()]
    table = pq.read_table(target)
    assert table.num_rows == len(rows) == 9
    records = table.to_pylist()
    with open_store(store, readonly=True) as opened:
        for record, row in zip(records, rows, strict=True):
            body = record.pop("body")
            assert body == opened.read_body(str(row["url"]))
            fetched_at = record.pop("fetched_at")
            expected = row.pop("fetched_at")
            if expected is None:
                assert fetched_at is None
            else:
                iso = fetched_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                assert iso == expected
            for key in ("processed", "headers", "input"):
                value = record.pop(key)
                assert (None if value is None else json.loads(value)) == row.pop(key)
            assert record == row
    assert [r["state"] for r in records].count("done") == 7
    assert str(table.schema.field("body").type) == "binary"


def test_row_groups_bound_rows_and_bytes(tmp_path: Path) -> None:
    urls = [f"http://h/{n}" for n in range(10)]
    with open_store(tmp_path / "s.db") as store:
        store.add_urls(urls)
        for n, url in enumerate(urls):
            store.record(Outcome(url, State.DONE, http_status=200, body=bytes([n]) * 1000))
    with open_store(tmp_path / "s.db", readonly=True) as store:
        with open(tmp_path / "rows.parquet", "wb") as out:
            assert write_parquet(store, out, row_group_rows=3) == 10
        with open(tmp_path / "bytes.parquet", "wb") as out:
            write_parquet(store, out, row_group_bytes=2500)
    by_rows = pq.ParquetFile(tmp_path / "rows.parquet")
    assert [by_rows.metadata.row_group(i).num_rows for i in range(4)] == [3, 3, 3, 1]
    by_bytes = pq.ParquetFile(tmp_path / "bytes.parquet")
    groups = [by_bytes.metadata.row_group(i).num_rows for i in range(by_bytes.num_row_groups)]
    assert groups == [3, 3, 3, 1], "a group is written once its bodies reach 2,500 bytes"
    assert pq.read_table(tmp_path / "bytes.parquet").column("body").to_pylist() == [
        bytes([n]) * 1000 for n in range(10)
    ]


def test_without_pyarrow_parquet_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.db"):
        pass
    # A None entry in sys.modules makes "import pyarrow" raise ImportError, as it does
    # where pyarrow is not installed.
    args = ["export", str(tmp_path / "s.db"), "--format", "parquet", "--to", "x.parquet"]
    probe = (
        "import sys\n"
        "sys.modules['pyarrow'] = None\n"
        "from threadloom.cli import main\n"
        f"main({args!r})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "--format parquet needs pyarrow: pip install 'threadloom[parquet]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_parquet_needs_to(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.db"):
        pass
    result = CliRunner().invoke(main, ["export", str(tmp_path / "s.db"), "--format", "parquet"])
    assert result.exit_code == 2
    assert "--format parquet needs --to FILE" in result.output
