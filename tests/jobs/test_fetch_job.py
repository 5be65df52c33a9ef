"""The fetch job against the fault-injecting server: outcomes, retries, limits, resume."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from rich.console import Console

from threadloom.jobs import FetchJob, FetchOptions, RequestSetupError, render_summary
from threadloom.server import FaultServer
from threadloom.store import State, open_store

# Fast retries so that tests of the retry path take milliseconds, not seconds.
FAST = FetchOptions(jobs=4, per_host=4, retries=2, backoff=0.01, timeout=2.0)


def run(
    store: Path, urls: list[str], options: FetchOptions = FAST, **kwargs: object
) -> dict[str, dict[str, object]]:
    """Run a job over ``urls`` and return the store's export keyed by URL."""
    job = FetchJob(store, options, progress="quiet", **kwargs)  # type: ignore[arg-type]
    job.run(url.encode() for url in urls)
    with open_store(store, readonly=True) as opened:
        return {str(row["url"]): row for row in opened.export()}


def test_every_document_is_done_with_its_hash(tmp_path: Path, server: FaultServer) -> None:
    urls = [server.url(f"/docs/{n}.xml") for n in range(40)]
    rows = run(tmp_path / "s.db", urls)
    assert len(rows) == 40
    assert {row["state"] for row in rows.values()} == {"done"}
    assert all(row["attempts"] == 1 and row["http_status"] == 200 for row in rows.values())
    with open_store(tmp_path / "s.db", readonly=True) as opened:
        body = opened.read_body(urls[3])
    assert body is not None
    assert body.startswith(b"<?xml")


def test_failures_end_in_a_state_with_a_reason(tmp_path: Path, server: FaultServer) -> None:
    urls = {
        "not_found": server.url("/status/404"),
        "unavailable": server.url("/status/503"),
        "flaky": server.url("/flaky/job-flaky?fail=2&code=503"),
        "truncated": server.url("/truncate?size=1000&send=10"),
        "to_file": server.url("/redirect-to?url=file:///etc/passwd"),
        "loop": server.url("/redirect-loop"),
    }
    rows = run(tmp_path / "s.db", list(urls.values()))
    by_name = {name: rows[url] for name, url in urls.items()}
    assert by_name["not_found"]["state"] == "failed"
    assert by_name["not_found"]["attempts"] == 1, "a 404 is not retried"
    assert by_name["not_found"]["http_status"] == 404
    assert by_name["unavailable"]["state"] == "failed"
    assert by_name["unavailable"]["attempts"] == 3, "503 retried: 1 + --retries 2"
    assert by_name["flaky"]["state"] == "done"
    assert by_name["flaky"]["attempts"] == 3
    assert by_name["truncated"]["state"] == "failed", "a truncated body is never done"
    assert "truncated" in str(by_name["truncated"]["error"])
    assert by_name["to_file"]["state"] == "failed"
    assert "file" in str(by_name["to_file"]["error"])
    assert by_name["loop"]["state"] == "failed"
    assert "redirect" in str(by_name["loop"]["error"])
    for row in by_name.values():
        if row["state"] == "failed":
            assert row["error"], row


def test_invalid_lines_are_stored_with_reasons(tmp_path: Path, server: FaultServer) -> None:
    job = FetchJob(tmp_path / "s.db", FAST, progress="quiet")
    result = job.run(
        [
            b"# a comment\n",
            b"\n",
            b"ftp://example.invalid/x\n",
            b"not a url\n",
            b"\xff\xfe\n",
            server.url("/docs/1.xml").encode() + b"\n",
        ]
    )
    assert result.added is not None
    assert result.added.invalid == 3
    assert result.summary.counts["invalid"] == 3
    assert result.summary.counts["done"] == 1
    assert result.summary.exit_code == 1
    with open_store(tmp_path / "s.db", readonly=True) as opened:
        errors = [row["error"] for row in opened.export() if row["state"] == "invalid"]
    assert all(errors)
    assert any("scheme" in str(error) for error in errors)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_per_host_limit_is_never_exceeded(tmp_path: Path) -> None:
    # Concurrency is measured from the pool's own spans: the server's in-flight count can
    # read one high, since it decrements only after the client already has the response.
    with FaultServer(documents=60, latency=0.5) as slow:
        urls = [slow.url(f"/docs/{n}.xml") for n in range(60)]
        options = FetchOptions(jobs=8, per_host=2, retries=0, timeout=5.0)
        job = FetchJob(tmp_path / "s.db", options, progress="quiet", record_trace=True)
        result = job.run(url.encode() for url in urls)
    assert result.summary.counts["done"] == 60
    assert result.trace is not None
    spans = [(span.start, span.end) for span in result.trace.spans]
    assert max_overlap(spans) == 2, "the limit is respected, and also reached"


def test_rerun_resumes_without_fetching_done_urls(tmp_path: Path) -> None:
    with FaultServer(documents=30) as fresh:
        urls = [fresh.url(f"/docs/{n}.xml") for n in range(30)] + [fresh.url("/status/404")]
        run(tmp_path / "s.db", urls)
        first = fresh.statistics().requests
        rows = run(tmp_path / "s.db", urls, FetchOptions(retries=0, retry_failed=False))
        assert fresh.statistics().requests == first, "done and skipped-failed URLs not fetched"
        run(tmp_path / "s.db", urls, FetchOptions(retries=0))
        assert fresh.statistics().requests == first + 1, "only the failed URL is retried"
    assert sum(row["state"] == "done" for row in rows.values()) == 30


def test_xml_processing_and_hostile_documents(tmp_path: Path, server: FaultServer) -> None:
    urls = [server.url("/docs/5.xml"), server.url("/bomb.xml"), server.url("/xxe.xml")]
    options = FetchOptions(jobs=2, retries=0, process="xml")
    rows = run(tmp_path / "s.db", urls, options)
    good, bomb, xxe = (rows[url] for url in urls)
    assert good["state"] == "done"
    processed = good["processed"]
    if isinstance(processed, str):
        processed = json.loads(processed)
    assert isinstance(processed, dict)
    assert processed["elements"] > 1
    assert isinstance(processed["root"], str)
    for hostile in (bomb, xxe):
        assert hostile["state"] == "done", "the body is stored; only processing failed"
        assert "forbidden" in str(hostile["process_error"])


def test_user_processor_failure_is_confined_to_its_url(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "myproc.py"
    module.write_text(
        "def size(response):\n"
        "    if response.url.endswith('/docs/2.xml'):\n"
        "        raise RuntimeError('cannot handle document 2')\n"
        "    return {'size': len(response.body)}\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    urls = [server.url(f"/docs/{n}.xml") for n in range(4)]
    rows = run(tmp_path / "s.db", urls, FetchOptions(retries=0, process="myproc:size"))
    assert rows[urls[2]]["process_error"] == "RuntimeError: cannot handle document 2"
    assert rows[urls[1]]["process_error"] is None
    assert all(row["state"] == State.DONE for row in rows.values())


def test_processing_failures_are_one_line_counted_and_fail_the_exit_code(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "pickyproc.py"
    module.write_text(
        "import sys\n"
        "def check(response):\n"
        "    if response.url.endswith('/docs/1.xml'):\n"
        "        raise ValueError('first line\\nsecond line')\n"
        "    if response.url.endswith('/docs/2.xml'):\n"
        "        sys.exit(3)  # must not end the run\n"
        "    return len(response.body)\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    urls = [server.url(f"/docs/{n}.xml") for n in range(4)]
    job = FetchJob(
        tmp_path / "s.db", FetchOptions(retries=0, process="pickyproc:check"), progress="quiet"
    )
    summary = job.run(url.encode() for url in urls).summary
    assert summary.counts["done"] == 4
    assert summary.process_failed == 2
    assert sorted(summary.process_reasons) == [
        ("SystemExit: 3", 1),
        ("ValueError: first line second line", 1),
    ]
    assert summary.exit_code == 1
    out = io.StringIO()
    render_summary(summary, Console(file=out, width=120))
    assert "processing failed for 2" in out.getvalue()
    assert "top processing errors" in out.getvalue()
    with open_store(tmp_path / "s.db", readonly=True) as store:
        assert store.counts().process_failed == 2


def test_a_final_redirect_status_is_a_failure_not_a_document(
    tmp_path: Path, server: FaultServer
) -> None:
    urls = [server.url("/status/301"), server.url("/status/304"), server.url("/docs/1.xml")]
    rows = run(tmp_path / "s.db", urls)
    assert rows[urls[0]]["state"] == State.FAILED
    assert rows[urls[0]]["error"] == "HTTP 301 Moved Permanently without a Location to follow"
    assert rows[urls[0]]["http_status"] == 301
    assert rows[urls[0]]["attempts"] == 1, "not retried"
    assert rows[urls[1]]["error"] == "HTTP 304 Not Modified: no document"
    assert rows[urls[2]]["state"] == State.DONE


def test_max_size_aborts_the_download(tmp_path: Path, server: FaultServer) -> None:
    url = server.url("/huge?size=50000000")
    rows = run(tmp_path / "s.db", [url], FetchOptions(retries=0, max_size=100_000))
    assert rows[url]["state"] == "failed"
    assert "max-size" in str(rows[url]["error"])


def test_trace_spans_cover_every_attempt(tmp_path: Path, server: FaultServer) -> None:
    urls = [server.url(f"/docs/{n}.xml") for n in range(10)]
    urls.append(server.url("/flaky/trace-flaky?fail=1"))
    job = FetchJob(tmp_path / "s.db", FAST, progress="quiet", record_trace=True)
    result = job.run(url.encode() for url in urls)
    assert result.trace is not None
    timeline = result.trace.timeline()
    assert len(timeline) == 12, "11 URLs, one of them needed two attempts"
    assert {span.label for span in timeline} == set(urls)
    assert sorted(span.outcome for span in timeline).count("retry") == 1
    assert all(span.thread.startswith("job-fetch") for span in timeline)
    trace_file = result.trace.save_chrome_trace(tmp_path / "trace.json")
    events = json.loads(trace_file.read_text())["traceEvents"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M"}
    assert len(names) >= 1
    assert sum(e["ph"] == "X" for e in events) == 12


def test_trace_tracks_hold_one_request_at_a_time(tmp_path: Path) -> None:
    # The fetch stage's worker starts every attempt and the transfer thread finishes it,
    # so one worker has up to -j attempts in flight: they go on lanes of their own.
    with FaultServer(documents=40, latency=0.05) as slow:
        urls = [slow.url(f"/docs/{n}.xml") for n in range(40)]
        options = FetchOptions(jobs=4, per_host=4, retries=0)
        job = FetchJob(tmp_path / "s.db", options, progress="quiet", record_trace=True)
        result = job.run(url.encode() for url in urls)
    assert result.trace is not None
    by_track: dict[str, list[tuple[float, float]]] = {}
    for span in result.trace.timeline():
        by_track.setdefault(span.thread, []).append((span.start, span.end))
    assert 2 <= len(by_track) <= 4, sorted(by_track)
    for spans in by_track.values():
        assert max_overlap(spans) == 1
    events = json.loads(result.trace.save_chrome_trace(tmp_path / "t.json").read_text())
    tracks = {e["args"]["name"] for e in events["traceEvents"] if e["ph"] == "M"}
    assert tracks == set(by_track)


def test_a_cookie_file_gone_before_the_run_leaves_nothing_open(tmp_path: Path) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc\n", encoding="utf-8")
    options = FetchOptions(jobs=2, per_host=2, retries=0, timeout=2.0, cookie_file=str(cookies))
    job = FetchJob(tmp_path / "s.db", options, progress="quiet")  # checks the file now
    cookies.unlink()
    with pytest.raises(RequestSetupError, match="cookie file"):
        job.run([])
    # Neither the store nor its writer thread was left behind: the store opens again.
    assert not (tmp_path / "s.db.threadloom.lock").exists()
    assert not [t for t in threading.enumerate() if "store-writer" in t.name]
