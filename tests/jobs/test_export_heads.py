"""End to end: ``threadloom fetch`` keeps each final response's status line and headers,
in every store kind, and ``threadloom export --format jsonl`` shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from threadloom.cli import main
from threadloom.server import FaultServer


@pytest.mark.parametrize("name", ["out.db", "out/", "out.jsonl"])
def test_fetch_keeps_heads_and_export_shows_them(
    tmp_path: Path, server: FaultServer, name: str
) -> None:
    urls = [server.url("/docs/1.xml"), server.url("/redirect/2?doc=3"), server.url("/status/404")]
    (tmp_path / "urls.txt").write_text("".join(f"{url}\n" for url in urls))
    store = str(tmp_path / name) + ("/" if name.endswith("/") else "")
    fetched = CliRunner().invoke(
        main, ["fetch", "-q", "--retries", "0", "-o", store, str(tmp_path / "urls.txt")]
    )
    assert fetched.exit_code == 1, fetched.output  # the 404 failed
    exported = CliRunner().invoke(main, ["export", store, "--format", "jsonl"])
    assert exported.exit_code == 0, exported.output
    rows = {row["url"]: row for row in map(json.loads, exported.output.splitlines())}
    for url in urls[:2]:
        row = rows[url]
        assert row["status_line"] == "HTTP/1.1 200 OK"
        assert row["headers"]["content-type"] == "application/xml"
        assert row["headers"]["content-length"] == str(row["size"])
        assert "location" not in row["headers"], "the final response's head, not a redirect's"
    failed = rows[urls[2]]
    assert failed["state"] == "failed"
    assert (failed["status_line"], failed["headers"]) == (None, None)


def test_export_dir_carries_the_heads_into_its_store(tmp_path: Path, server: FaultServer) -> None:
    (tmp_path / "urls.txt").write_text(server.url("/docs/1.xml") + "\n")
    store = str(tmp_path / "out.db")
    assert (
        CliRunner().invoke(main, ["fetch", "-q", "-o", store, str(tmp_path / "urls.txt")]).exit_code
        == 0
    )
    target = str(tmp_path / "copy")
    copied = CliRunner().invoke(main, ["export", store, "--format", "dir", "--to", target])
    assert copied.exit_code == 0, copied.output
    original, copy = (
        json.loads(CliRunner().invoke(main, ["export", path]).output) for path in (store, target)
    )
    assert copy["status_line"] == original["status_line"] == "HTTP/1.1 200 OK"
    assert copy["headers"] == original["headers"]
