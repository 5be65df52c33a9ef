"""--process on a store fetched earlier processes its done URLs from their stored bodies
(those whose processing is missing or failed; all of them with --reprocess), without
fetching them again, for every store kind."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from threadloom.cli import main
from threadloom.jobs import FetchJob, FetchOptions, RunSummary, render_summary
from threadloom.server import FaultServer
from threadloom.store import Outcome, State, file_name_for, open_store

KINDS = {"sqlite": "s.db", "directory": "d/", "jsonl": "s.jsonl"}


def fetch(store: str, urls: list[str], options: FetchOptions) -> RunSummary:
    job = FetchJob(store, options, progress="quiet")
    return job.run(url.encode() for url in urls).summary


def rows(store: str) -> dict[str, dict[str, object]]:
    with open_store(store, readonly=True) as opened:
        return {str(row["url"]): row for row in opened.export()}


def text(output: str) -> str:
    """The output with line breaks as spaces (the summary wraps at the terminal width)."""
    return " ".join(output.split())


def write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(source, encoding="utf-8")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_process_a_store_fetched_without_processing(
    tmp_path: Path, server: FaultServer, kind: str
) -> None:
    store = f"{tmp_path}/{KINDS[kind]}"
    urls = [server.url(f"/docs/{n}.xml") for n in range(12)]
    first = fetch(store, urls, FetchOptions(retries=0))
    assert first.exit_code == 0
    assert first.processor is None
    requests = server.statistics().requests
    second = fetch(store, urls, FetchOptions(retries=0, process="xml"))
    assert server.statistics().requests == requests, "nothing is fetched again"
    assert second.processed_this_run == 12
    assert second.exit_code == 0
    for row in rows(store).values():
        processed = row["processed"]
        assert isinstance(processed, dict), row
        assert processed["elements"] > 1
    # Nothing left to process: the next run with --process processes nothing.
    third = fetch(store, urls, FetchOptions(retries=0, process="xml"))
    assert third.processed_this_run == 0
    assert third.exit_code == 0
    assert server.statistics().requests == requests


def test_a_fixed_processor_clears_the_failures_and_reprocess_redoes_all(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(
        tmp_path,
        "proc_v1",
        "def check(response):\n"
        "    if response.url.endswith(('/docs/1.xml', '/docs/2.xml')):\n"
        "        raise ValueError('not yet')\n"
        "    return {'v': 1, 'type': response.content_type}\n",
    )
    write_module(tmp_path, "proc_v2", "def check(response):\n    return {'v': 2}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    store = str(tmp_path / "s.db")
    urls = [server.url(f"/docs/{n}.xml") for n in range(6)]
    broken = fetch(store, urls, FetchOptions(retries=0, process="proc_v1:check"))
    assert broken.process_failed == 2
    assert broken.processed_this_run == 6
    assert broken.exit_code == 1
    requests = server.statistics().requests

    fixed = fetch(store, urls, FetchOptions(retries=0, process="proc_v2:check"))
    assert fixed.processed_this_run == 2, "only the two failures are processed again"
    assert fixed.process_failed == 0
    assert fixed.exit_code == 0
    after = rows(store)
    assert after[urls[1]]["processed"] == {"v": 2}
    assert after[urls[1]]["process_error"] is None
    assert after[urls[0]]["processed"] == {"v": 1, "type": "application/xml"}, "kept"

    redone = fetch(store, urls, FetchOptions(retries=0, process="proc_v2:check", reprocess=True))
    assert redone.processed_this_run == 6
    assert {json.dumps(row["processed"]) for row in rows(store).values()} == {'{"v": 2}'}
    assert server.statistics().requests == requests, "no URL was fetched again"
    out = io.StringIO()
    render_summary(redone, Console(file=out, width=200))
    assert "processed 6 (proc_v2:check)" in out.getvalue()


def test_new_urls_are_fetched_and_processed_once_after_the_stored_ones(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(
        tmp_path,
        "proc_count",
        "import collections\n"
        "seen = collections.Counter()\n"
        "def check(response):\n"
        "    seen[response.url] += 1\n"
        "    raise ValueError('always fails')\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    store = str(tmp_path / "s.db")
    old = [server.url(f"/docs/{n}.xml") for n in range(3)]
    new = [server.url(f"/docs/{n}.xml") for n in range(3, 6)]
    fetch(store, old, FetchOptions(retries=0))
    summary = fetch(store, old + new, FetchOptions(retries=0, process="proc_count:check"))
    import proc_count  # type: ignore[import-not-found]

    assert dict(proc_count.seen) == dict.fromkeys(old + new, 1), "each processed once"
    assert summary.processed_this_run == 6
    assert summary.process_failed == 6
    assert summary.finished_this_run == 3


def test_cli_process_then_reprocess(tmp_path: Path, server: FaultServer) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(server.url(f"/docs/{n}.xml") + "\n" for n in range(5)))
    store = str(tmp_path / "o.db")
    runner = CliRunner()
    assert runner.invoke(main, ["fetch", "-q", "-o", store, str(urls)]).exit_code == 0
    processed = runner.invoke(main, ["fetch", "-o", store, "--process", "xml", str(urls)])
    assert processed.exit_code == 0, processed.output
    assert "nothing to fetch: 5 of 5 already done" in text(processed.output)
    assert "processed 5 (xml)" in text(processed.output)
    again = runner.invoke(main, ["fetch", "-o", store, "--process", "xml", str(urls)])
    assert "processed 0 (xml)" in text(again.output)
    redo = runner.invoke(main, ["fetch", "-o", store, "--process", "xml", "--reprocess", str(urls)])
    assert redo.exit_code == 0, redo.output
    assert "processed 5 (xml)" in text(redo.output)
    alone = runner.invoke(main, ["fetch", "-o", store, "--reprocess", str(urls)])
    assert alone.exit_code == 2
    assert "--reprocess needs --process" in alone.output


def test_a_missing_body_file_is_a_processing_failure(tmp_path: Path, server: FaultServer) -> None:
    store = f"{tmp_path}/d/"
    urls = [server.url(f"/docs/{n}.xml") for n in range(3)]
    fetch(store, urls, FetchOptions(retries=0))
    (tmp_path / "d" / file_name_for(urls[1])).unlink()
    summary = fetch(store, urls, FetchOptions(retries=0, process="xml"))
    assert summary.process_failed == 1
    assert summary.process_reasons == [("the stored body is missing", 1)]
    assert summary.exit_code == 1


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_stored_bodies_are_read_one_at_a_time(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(tmp_path, "proc_len", "def size(response):\n    return len(response.body)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    store = f"{tmp_path}/{KINDS[kind]}"
    count, size = 40, 1 << 20
    with open_store(store) as opened:
        urls = [f"http://127.0.0.1:9/doc/{n}" for n in range(count)]
        opened.add_urls(urls)
        for n, url in enumerate(urls):
            opened.record(Outcome(url, State.DONE, 200, bytes([65 + n % 26]) * size))
    job = FetchJob(store, FetchOptions(process="proc_len:size"), progress="quiet")
    tracemalloc.start()
    try:
        summary = job.run(None).summary
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.processed_this_run == count
    assert {row["processed"] for row in rows(store).values()} == {size}
    # All the bodies at once would be 40 MiB; one or two at a time, a few.
    assert peak < 8 * size, f"peak {peak / size:.1f} MiB"


def test_naming_another_processor_warns_that_results_are_kept(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(tmp_path, "proc_other", "def check(response):\n    return 'other'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(server.url(f"/docs/{n}.xml") + "\n" for n in range(4)))
    store = str(tmp_path / "o.db")

    def fetch_cli(*extra: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["fetch", "-q", "-o", store, *extra, str(urls)])
        return result.exit_code, result.stderr

    assert fetch_cli("--process", "xml") == (0, "")
    code, stderr = fetch_cli("--process", "proc_other:check")
    assert code == 0
    assert stderr == (
        f"threadloom: {store}: 4 done URLs keep their results of --process xml;"
        " add --reprocess to redo them with proc_other:check\n"
    )
    assert "other" not in [row["processed"] for row in rows(store).values()], "kept, as said"
    assert fetch_cli("--process", "proc_other:check", "--reprocess") == (0, "")
    assert {row["processed"] for row in rows(store).values()} == {"other"}
    assert fetch_cli("--process", "proc_other:check") == (0, ""), "no change, no note"
    with open_store(store, readonly=True) as opened:
        assert opened.processor == "proc_other:check"


def test_the_report_shows_the_stored_processing(tmp_path: Path, server: FaultServer) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(server.url(f"/docs/{n}.xml") + "\n" for n in range(4)))
    store = str(tmp_path / "o.db")
    report = tmp_path / "r.html"
    CliRunner().invoke(main, ["fetch", "-q", "-o", store, str(urls)])
    args = ["fetch", "-q", "--process", "xml", "--report", str(report), "-o", store, str(urls)]
    assert CliRunner().invoke(main, args).exit_code == 0
    html = report.read_text(encoding="utf-8")
    assert '<g class="row" data-thread="job-stored">' in html
    assert "nothing to fetch: 4 of 4 already done" in html
    assert "processed 4 (xml)" in html


def test_ctrl_c_during_the_stored_pass_leaves_the_rest_to_the_next_run(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C as the user sends it: SIGINT to the process, here from a processing call.
    write_module(
        tmp_path,
        "proc_stop",
        "import os, signal\n"
        "calls = []\n"
        "def check(response):\n"
        "    calls.append(response.url)\n"
        "    if len(calls) == 3:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return 1\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    store = str(tmp_path / "s.db")
    urls = [server.url(f"/docs/{n}.xml") for n in range(30)]
    fetch(store, urls, FetchOptions(retries=0))
    stopped = fetch(store, urls, FetchOptions(retries=0, process="proc_stop:check"))
    assert stopped.interrupted
    assert stopped.exit_code == 130
    # The calls before the signal may not have been recorded yet when it lands (a loaded
    # machine): none, some, never all.
    assert 0 <= stopped.processed_this_run < 30
    with open_store(store, readonly=True) as opened:
        left = opened.count_to_process()
        assert opened.processor is None, "an interrupted run names no processor"
    assert left == 30 - stopped.processed_this_run
    resumed = fetch(store, urls, FetchOptions(retries=0, process="xml"))
    assert resumed.processed_this_run == left
    assert resumed.exit_code == 0


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_stored_body_is_processed_with_the_headers_of_its_fetch(
    tmp_path: Path, server: FaultServer, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A processor must see the same response from a stored body as on the fetch itself.
    write_module(
        tmp_path,
        "proc_heads",
        "def seen(response):\n"
        "    return {'headers': dict(response.headers), 'version': response.http_version,\n"
        "            'status': response.status}\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    store = f"{tmp_path}/{KINDS[kind]}"
    urls = [server.url(f"/docs/{n}.xml") for n in range(3)]
    live = fetch(store, urls, FetchOptions(retries=0, process="proc_heads:seen"))
    assert live.exit_code == 0
    on_fetch = {url: row["processed"] for url, row in rows(store).items()}
    redone = fetch(store, urls, FetchOptions(retries=0, process="proc_heads:seen", reprocess=True))
    assert redone.processed_this_run == 3
    from_store = {url: row["processed"] for url, row in rows(store).items()}
    assert from_store == on_fetch
    first = on_fetch[urls[0]]
    assert isinstance(first, dict)
    assert first["version"] == "1.1"
    assert first["headers"]["content-type"] == "application/xml"
    assert "content-length" in first["headers"]
