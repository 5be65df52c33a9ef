"""End to end: ``threadloom fetch`` then ``threadloom export --format warc``, read back by
warcio (the web-archiving tools' own library and CLI), as an archive user would."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from threadloom.cli import main
from threadloom.server import FaultServer, document

warcio = pytest.importorskip("warcio")
from warcio.archiveiterator import ArchiveIterator  # noqa: E402

WARCIO = str(Path(sys.executable).with_name("warcio"))


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory, server: FaultServer) -> Path:
    """A store with plain, redirected, gzip-encoded, failed and never-valid URLs."""
    tmp = tmp_path_factory.mktemp("warc")
    urls = [
        server.url("/docs/1.xml"),
        server.url("/redirect/2?doc=3"),
        server.url("/gzip/docs/7.xml"),
        server.url("/docs/2.xml?a=1&b=%C3%A9"),
        server.url("/status/404"),
        "ftp://nope/",
    ]
    (tmp / "urls.txt").write_text("".join(f"{url}\n" for url in urls))
    store = tmp / "out.db"
    result = CliRunner().invoke(
        main, ["fetch", "-q", "--retries", "0", "-o", str(store), str(tmp / "urls.txt")]
    )
    assert result.exit_code == 1, result.output  # the 404 and the ftp line
    return store


def export_rows(store: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["export", str(store)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def export_warc(store: Path, target: Path) -> None:
    result = CliRunner().invoke(
        main, ["export", str(store), "--format", "warc", "--to", str(target)]
    )
    assert result.exit_code == 0, result.output


def test_warcio_reads_back_every_done_url(fetched: Path, tmp_path: Path) -> None:
    target = tmp_path / "crawl.warc.gz"
    export_warc(fetched, target)
    done = [row for row in export_rows(fetched) if row["state"] == "done"]
    assert len(done) == 4
    with open(target, "rb") as stream:
        records = list(_records(stream))
    assert records[0]["type"] == "warcinfo"
    assert "threadloom/" in records[0]["content"].decode()
    responses = [r for r in records if r["type"] == "response"]
    requests = [r for r in records if r["type"] == "request"]
    assert len(responses) == len(requests) == len(done)
    from threadloom.store import open_store

    with open_store(fetched, readonly=True) as store:
        for row, response, request in zip(done, responses, requests, strict=True):
            url = str(row["url"])
            body = store.read_body(url)
            assert body is not None
            assert response["content"] == body
            assert response["status"] == str(row["http_status"])
            assert response["target"] == row["final_url"]
            assert response["date"] == row["fetched_at"]
            sha1 = base64.b32encode(hashlib.sha1(body).digest()).decode()
            assert response["payload_digest"] == f"sha1:{sha1}"
            assert request["concurrent_to"] == response["id"]
            assert request["target"] == response["target"]
            request_head = request["http_headers"]
            path = str(row["final_url"]).split("/", 3)[3]
            assert request_head.protocol == "GET"
            assert request_head.statusline == f"/{path} HTTP/1.1"
            assert request_head.get_header("Host") == str(row["final_url"]).split("/")[2]
            assert request["content"] == b""
            if row["final_url"] != url:
                assert response["requested"] == url
            else:
                assert response["requested"] is None


def test_a_stored_gzip_response_is_archived_decoded_with_its_original_headers_kept(
    fetched: Path, tmp_path: Path
) -> None:
    target = tmp_path / "crawl.warc.gz"
    export_warc(fetched, target)
    with open(target, "rb") as stream:
        (record,) = [
            r for r in _records(stream) if r["type"] == "response" and "/gzip/" in r["target"]
        ]
    head = record["http_headers"]
    assert head.get_header("X-Archive-Orig-Content-Encoding") == "gzip"
    assert head.get_header("Content-Encoding") is None
    assert head.get_header("Content-Length") == str(len(record["content"]))
    assert record["content"].startswith(b"<?xml")


def test_warcio_index_and_check_accept_the_file(fetched: Path, tmp_path: Path) -> None:
    target = tmp_path / "crawl.warc.gz"
    export_warc(fetched, target)
    check = subprocess.run(
        [WARCIO, "check", "-v", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout
    assert "fail" not in check.stdout.replace("digest pass", "")
    index = subprocess.run(
        [WARCIO, "index", "-f", "warc-type,warc-target-uri,http:status,offset,length", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    entries = [json.loads(line) for line in index.stdout.splitlines()]
    assert [e["warc-type"] for e in entries] == ["warcinfo"] + ["response", "request"] * 4
    assert {e.get("http:status") for e in entries if e["warc-type"] == "response"} == {"200"}
    # Each record is a gzip member of its own: the index's offsets let a reader start at any.
    data = target.read_bytes()
    for entry in entries:
        start = int(entry["offset"])
        member = gzip.decompress(data[start : start + int(entry["length"])])
        assert member.startswith(b"WARC/1.1\r\n")


def test_warc_to_standard_output_and_an_empty_store(tmp_path: Path, server: FaultServer) -> None:
    (tmp_path / "urls.txt").write_text(server.url("/status/404") + "\n")
    store = tmp_path / "out.db"
    CliRunner().invoke(
        main, ["fetch", "-q", "--retries", "0", "-o", str(store), str(tmp_path / "urls.txt")]
    )
    result = subprocess.run(
        [sys.executable, "-m", "threadloom", "export", str(store), "--format", "warc"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    (tmp_path / "only.warc.gz").write_bytes(result.stdout)
    with open(tmp_path / "only.warc.gz", "rb") as stream:
        assert [r["type"] for r in _records(stream)] == ["warcinfo"]


def _records(stream: object) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for record in ArchiveIterator(stream, check_digests="raise"):
        headers = record.rec_headers
        out.append(
            {
                "type": record.rec_type,
                "id": headers.get_header("WARC-Record-ID"),
                "target": headers.get_header("WARC-Target-URI"),
                "date": headers.get_header("WARC-Date"),
                "payload_digest": headers.get_header("WARC-Payload-Digest"),
                "concurrent_to": headers.get_header("WARC-Concurrent-To"),
                "requested": headers.get_header("Threadloom-Requested-URI"),
                "status": record.http_headers.get_statuscode() if record.http_headers else None,
                "http_headers": record.http_headers,
                "content": record.content_stream().read(),
            }
        )
    return out


@pytest.mark.parametrize("name", ["out/", "out.jsonl"])
def test_warc_from_directory_and_jsonl_stores(
    tmp_path: Path, server: FaultServer, name: str
) -> None:
    urls = [server.url("/docs/1.xml"), server.url("/redirect/1?doc=2")]
    (tmp_path / "urls.txt").write_text("".join(f"{url}\n" for url in urls))
    store = str(tmp_path / name) + ("/" if name.endswith("/") else "")
    fetched = CliRunner().invoke(main, ["fetch", "-q", "-o", store, str(tmp_path / "urls.txt")])
    assert fetched.exit_code == 0, fetched.output
    export_warc(Path(store), tmp_path / "x.warc.gz")
    with open(tmp_path / "x.warc.gz", "rb") as stream:
        responses = [r for r in _records(stream) if r["type"] == "response"]
    assert [r["content"] for r in responses] == [document(1, server.seed), document(2, server.seed)]
    assert [r["status"] for r in responses] == ["200", "200"]
    assert responses[1]["requested"] == urls[1]
    assert responses[0]["http_headers"].get_header("Server") == "threadloom-faultserver"


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_warc_to_a_terminal_is_refused(fetched: Path) -> None:
    import pty

    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "threadloom", "export", str(fetched), "--format", "warc"],
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2
    assert "--format warc is binary: give --to FILE or redirect the output" in result.stderr


def test_a_body_file_removed_by_hand_is_left_out_and_said(
    tmp_path: Path, server: FaultServer
) -> None:
    urls = [server.url("/docs/1.xml"), server.url("/docs/2.xml")]
    (tmp_path / "urls.txt").write_text("".join(f"{url}\n" for url in urls))
    store = f"{tmp_path}/out/"
    assert (
        CliRunner().invoke(main, ["fetch", "-q", "-o", store, str(tmp_path / "urls.txt")]).exit_code
        == 0
    )
    from threadloom.store import file_name_for

    (tmp_path / "out" / file_name_for(urls[0])).unlink()
    result = CliRunner().invoke(
        main, ["export", store, "--format", "warc", "--to", str(tmp_path / "x.warc.gz")]
    )
    assert result.exit_code == 0, result.output
    assert "1 documents written to" in result.output
    assert "(1 done URLs without a stored body left out)" in result.output
    with open(tmp_path / "x.warc.gz", "rb") as stream:
        targets = [r["target"] for r in _records(stream) if r["type"] == "response"]
    assert targets == [urls[1]]
