"""`write_warc` on stores made by hand: heads of every form (HTTP/2, folded, missing),
non-ASCII URLs, read back and checked by warcio."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from threadloom.store import Outcome, State, open_store
from threadloom.store._warc import write_warc

warcio = pytest.importorskip("warcio")
from warcio.archiveiterator import ArchiveIterator  # noqa: E402

WARCIO = str(Path(sys.executable).with_name("warcio"))


def test_heads_of_every_form_are_archived_and_pass_warcio_check(tmp_path: Path) -> None:
    urls = ["https://a.example/h2", "http://a.example/old", "http://a.example/caf\u00e9?q=\u00fc"]
    with open_store(tmp_path / "s.db") as store:
        store.add_urls([*urls, "http://a.example/failed"])
        store.record(
            Outcome(
                urls[0],
                State.DONE,
                http_status=200,
                body=b"<html>h2</html>",
                final_url=urls[0],
                response_head=b"HTTP/2 200 \r\ncontent-type: text/html\r\n"
                b"content-encoding: br\r\nx-folded: one\r\n two\r\n",
            )
        )
        # As a store of schema version 1 recorded it: no head.
        store.record(
            Outcome(urls[1], State.DONE, http_status=404, body=b"", content_type="text/plain")
        )
        store.record(
            Outcome(
                urls[2],
                State.DONE,
                http_status=200,
                body="\u00e9".encode(),
                final_url="http://a.example/caf%C3%A9?q=%C3%BC",
                response_head=b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n",
            )
        )
        store.record(Outcome("http://a.example/failed", State.FAILED, error="HTTP 500"))
    out = io.BytesIO()
    with open_store(tmp_path / "s.db", readonly=True) as store:
        written = write_warc(store, out, filename="s.warc.gz", software="test")
    assert written == 3
    (tmp_path / "s.warc.gz").write_bytes(out.getvalue())
    check = subprocess.run(
        [WARCIO, "check", "-v", str(tmp_path / "s.warc.gz")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    out.seek(0)
    # A record's content is read while the iterator is on it.
    h2, old, cafe = [
        (r, r.http_headers, r.content_stream().read())
        for r in ArchiveIterator(out, check_digests="raise")
        if r.rec_type == "response"
    ]
    assert h2[1].protocol == "HTTP/2"
    assert h2[1].get_statuscode() == "200"
    assert h2[1].get_header("X-Archive-Orig-content-encoding") == "br"
    assert h2[1].get_header("content-encoding") is None
    assert h2[2] == b"<html>h2</html>"
    assert old[1].statusline == "404 Not Found"
    assert old[1].get_header("Content-Type") == "text/plain"
    assert old[1].get_header("Content-Length") == "0"
    assert old[2] == b""
    target = cafe[0].rec_headers.get_header("WARC-Target-URI")
    assert target == "http://a.example/caf%C3%A9?q=%C3%BC"
    requested = cafe[0].rec_headers.get_header("Threadloom-Requested-URI")
    assert requested == "http://a.example/caf%C3%A9?q=%C3%BC"
    assert cafe[1].get_header("X-Archive-Orig-Transfer-Encoding") == "chunked"
    assert cafe[2] == "\u00e9".encode()


@pytest.mark.parametrize("size", [0, 1, 511, 512, 40_000, 300_000])
def test_records_of_any_size_decompress_and_verify(tmp_path: Path, size: int) -> None:
    # Each record's gzip window is sized to the record (see _record): small, exact
    # powers of two and larger than the largest window must all read back.
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    with open_store(tmp_path / "s.db") as store:
        store.add_urls(["http://h/x"])
        store.record(Outcome("http://h/x", State.DONE, http_status=200, body=body))
    out = io.BytesIO()
    with open_store(tmp_path / "s.db", readonly=True) as store:
        write_warc(store, out, filename="s.warc.gz", software="test")
    out.seek(0)
    bodies = [
        r.content_stream().read()
        for r in ArchiveIterator(out, check_digests="raise")
        if r.rec_type == "response"
    ]
    assert bodies == [body]
