"""The command line contract: fetch, status, export, exit codes, Ctrl-C and kill -9."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from threadloom.cli import main
from threadloom.server import FaultServer


def write_urls(path: Path, urls: list[str]) -> Path:
    path.write_text("".join(f"{url}\n" for url in urls), encoding="utf-8")
    return path


def export_rows(store: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["export", str(store), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_fetch_status_export(tmp_path: Path, server: FaultServer) -> None:
    urls = write_urls(tmp_path / "urls.txt", [server.url(f"/docs/{n}.xml") for n in range(20)])
    store = tmp_path / "out.db"
    result = CliRunner().invoke(main, ["fetch", "-j", "4", "-o", str(store), str(urls)])
    assert result.exit_code == 0, result.output
    assert "20 of 20 documents done" in result.output
    status = CliRunner().invoke(main, ["status", str(store), "--json"])
    assert status.exit_code == 0
    counts = json.loads(status.output)
    assert counts["total"] == counts["done"] == 20
    assert counts["bytes"] > 20_000
    rows = export_rows(store)
    assert len(rows) == 20
    for row in rows:
        assert {"url", "state", "http_status", "sha256", "size", "attempts", "error"} <= set(row)
        assert row["state"] == "done"
        assert len(str(row["sha256"])) == 64


def test_exit_code_1_when_something_failed(tmp_path: Path, server: FaultServer) -> None:
    urls = write_urls(tmp_path / "urls.txt", [server.url("/docs/1.xml"), server.url("/status/404")])
    result = CliRunner().invoke(main, ["fetch", "-q", "-o", str(tmp_path / "o.db"), str(urls)])
    assert result.exit_code == 1
    assert result.output == "", "-q prints nothing"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["fetch", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2
    assert "no such file" in missing.output
    urls = write_urls(tmp_path / "u.txt", ["http://127.0.0.1:9/x"])
    bad_store = runner.invoke(main, ["fetch", "-o", str(tmp_path / "x.unknown"), str(urls)])
    assert bad_store.exit_code == 2
    assert "x.unknown" in bad_store.output
    bad_process = runner.invoke(main, ["fetch", "--process", "nosuchmodule:f", str(urls)])
    assert bad_process.exit_code == 2
    assert "nosuchmodule" in bad_process.output
    assert runner.invoke(main, ["status", str(tmp_path / "none.db")]).exit_code == 2


def test_stdin_directory_store_and_jsonl_store(tmp_path: Path, server: FaultServer) -> None:
    lines = "".join(f"{server.url(f'/docs/{n}.xml')}\n" for n in range(5))
    for out in (str(tmp_path / "files") + "/", str(tmp_path / "out.jsonl")):
        result = CliRunner().invoke(main, ["fetch", "-q", "-o", out, "-"], input=lines)
        assert result.exit_code == 0, result.output
        assert all(row["state"] == "done" for row in export_rows(Path(out)))
    files = [p for p in (tmp_path / "files").iterdir() if not p.name.startswith(".")]
    assert len(files) == 5


def test_export_dir_writes_bodies(tmp_path: Path, server: FaultServer) -> None:
    urls = write_urls(tmp_path / "u.txt", [server.url(f"/docs/{n}.xml") for n in range(3)])
    store = tmp_path / "o.db"
    assert CliRunner().invoke(main, ["fetch", "-q", "-o", str(store), str(urls)]).exit_code == 0
    target = tmp_path / "exported"
    result = CliRunner().invoke(
        main, ["export", str(store), "--format", "dir", "--to", str(target)]
    )
    assert result.exit_code == 0, result.output
    bodies = [p.read_bytes() for p in target.iterdir() if not p.name.startswith(".")]
    assert len(bodies) == 3
    assert all(body.startswith(b"<?xml") for body in bodies)


def test_report_and_trace_files(tmp_path: Path, server: FaultServer) -> None:
    urls = write_urls(tmp_path / "u.txt", [server.url(f"/docs/{n}.xml") for n in range(12)])
    report, trace = tmp_path / "r.html", tmp_path / "t.json"
    args = ["fetch", "-q", "-o", str(tmp_path / "o.db"), "--report", str(report)]
    result = CliRunner().invoke(main, [*args, "--trace", str(trace), str(urls)])
    assert result.exit_code == 0, result.output
    html = report.read_text(encoding="utf-8")
    assert "<svg" in html
    assert "/docs/11.xml" in html
    events = json.loads(trace.read_text())["traceEvents"]
    assert sum(event["ph"] == "X" for event in events) == 12


def _appears(path: Path, *, within: float) -> bool:
    """Wait (at most ``within`` s) until ``path`` exists."""
    deadline = time.monotonic() + within
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _answered(server: FaultServer, minimum: int) -> bool:
    """Wait (at most 30 s) until the server has answered ``minimum`` requests."""
    return server.wait_for(lambda stats: stats.requests >= minimum, timeout=30)


def test_ctrl_c_stops_within_2_s_and_the_run_resumes(
    tmp_path: Path, threadloom_process: Callable[..., Any]
) -> None:
    with FaultServer(documents=200, latency=3.0) as slow:
        urls = write_urls(tmp_path / "u.txt", [slow.url(f"/docs/{n}.xml") for n in range(200)])
        store = tmp_path / "o.db"
        process = threadloom_process("fetch", "-j", "2", "-o", str(store), str(urls))
        stopped = process.interrupt(lambda: _answered(slow, 10), grace=10)
        assert stopped.returncode == 130, stopped.output
        assert stopped.seconds < 2.0
        assert "interrupted" in stopped.output
        resumed = CliRunner().invoke(main, ["fetch", "-q", "-j", "8", "-o", str(store), str(urls)])
        assert resumed.exit_code == 0
    rows = export_rows(store)
    assert len(rows) == 200
    assert {row["state"] for row in rows} == {"done"}


def test_ctrl_c_does_not_wait_for_a_process_call_that_ignores_it(
    tmp_path: Path, server: FaultServer, threadloom_process: Callable[..., Any]
) -> None:
    (tmp_path / "stubborn.py").write_text(
        "import pathlib, time\n"
        "def process(response):\n"
        "    pathlib.Path(__file__).with_name('started').touch()\n"
        "    time.sleep(60)  # never looks at its cancel token\n",
        encoding="utf-8",
    )
    urls = write_urls(tmp_path / "u.txt", [server.url(f"/docs/{n}.xml") for n in range(3)])
    store = tmp_path / "o.db"
    process = threadloom_process(
        "fetch",
        "-q",
        "-o",
        str(store),
        "--process",
        "stubborn:process",
        str(urls),
        env={"PYTHONPATH": str(tmp_path)},
    )
    stopped = process.interrupt(lambda: _appears(tmp_path / "started", within=20))
    assert stopped.returncode == 130, stopped.output
    assert stopped.seconds < 5.0, f"waited {stopped.seconds:.1f} s for the process call"
    status = json.loads(CliRunner().invoke(main, ["status", str(store), "--json"]).output)
    assert status["total"] == 3
    assert status["done"] < 3, "the URL being processed stays to do"


def test_kill_9_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, threadloom_process: Callable[..., Any]
) -> None:
    with FaultServer(documents=150, latency=2.0) as slow:
        urls = write_urls(tmp_path / "u.txt", [slow.url(f"/docs/{n}.xml") for n in range(150)])
        store = tmp_path / "o.db"
        process = threadloom_process("fetch", "-j", "2", "-o", str(store), "-q", str(urls))
        process.kill9(lambda: _answered(slow, 40))
        status = CliRunner().invoke(main, ["status", str(store), "--json"])
        before = json.loads(status.output)
        assert before["total"] == 150, "the whole input was committed before fetching"
        assert before["done"] + before["pending"] == 150
        resumed = CliRunner().invoke(main, ["fetch", "-q", "-j", "8", "-o", str(store), str(urls)])
        assert resumed.exit_code == 0
        document_requests = sum(
            count for path, count in slow.statistics().by_path.items() if path.startswith("/docs/")
        )
    rows = export_rows(store)
    assert len(rows) == 150
    assert len({row["url"] for row in rows}) == 150
    assert {row["state"] for row in rows} == {"done"}
    # Fetched but not yet committed at the kill: the requests in flight (-j 2), the fetch
    # stage's finished-but-unconsumed buffer (4 x jobs) and the writer's open batch.
    # Only those are fetched again.
    assert document_requests <= 150 + 2 + 8 + 10


def test_unwritable_report_is_one_line_and_exit_1(tmp_path: Path, server: FaultServer) -> None:
    urls = write_urls(tmp_path / "u.txt", [server.url("/docs/1.xml")])
    report = tmp_path / "missing-dir" / "r.html"
    args = ["fetch", "-q", "-o", str(tmp_path / "o.db"), "--report", str(report), str(urls)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert f"cannot write {report}: No such file or directory" in result.output
    assert "Traceback" not in result.output


def test_a_trace_or_report_path_inside_the_store_is_refused(
    tmp_path: Path, server: FaultServer
) -> None:
    urls = write_urls(tmp_path / "u.txt", [server.url("/docs/1.xml")])
    store = tmp_path / "o.db"
    assert CliRunner().invoke(main, ["fetch", "-q", "-o", str(store), str(urls)]).exit_code == 0
    before = store.read_bytes()
    for option, target in (("--trace", store), ("--report", Path(f"{store}-wal"))):
        args = ["fetch", "-q", "-o", str(store), option, str(target), str(urls)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert "is part of this store" in result.output
    folder = tmp_path / "pages"
    args = ["fetch", "-q", "-o", f"{folder}/", "--report", str(folder / "r.html"), str(urls)]
    assert CliRunner().invoke(main, args).exit_code == 2
    assert store.read_bytes() == before
    assert export_rows(store)[0]["state"] == "done"
